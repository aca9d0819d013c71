"""Publishing envelopes to ``enqueue-requests``: checked by the bridge's own model, then
batched within Pub/Sub's request limits. The library behind ``bridge publish``; ``main.py``
never imports it.

    from bridge.publishing import publish, publish_traced
    message_id = publish("brain", {"case_id": "C-1"}, idempotency_key="case-C-1")
    sent = publish_traced("brain", {"case_id": "C-2"})  # sent.traceparent: a new W3C trace

PublishError                nothing below is a bug of the caller's code; each says what to fix
 ├── InvalidEnvelope        the envelope would be rejected by the bridge: nothing was sent
 ├── MissingTopic           no project to publish in, or the topic does not exist
 ├── AccessDenied           no credentials, or no permission to publish to the topic
 └── PublishFailed          Pub/Sub failed (unavailable, timeout); ``published`` went out first

Every request is sent with an idempotency key: the caller's, or one generated once, before the
first attempt (``with_key``), and so the same on every retry. A publish whose reply is lost is
retried (DEADLINE_EXCEEDED, UNKNOWN, ...) and Pub/Sub then holds two messages with two ids; with
one key between them the bridge makes one task of both. (A message without a key is named by its
message id: two messages, two tasks.)

The google-cloud-pubsub client is imported when the first message is sent, not before.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import types
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions

from bridge.envelope import Envelope, parse_envelope
from bridge.errors import PermanentError, Reason
from bridge.limits import (
    CLI_TIMEOUT_S,
    DEFAULT_MAX_BODY_BYTES,
    MAX_MESSAGE_BYTES,
    MAX_REQUEST_BYTES,
    MAX_REQUEST_MESSAGES,
)
from bridge.plan import encode_body
from bridge.rejections import OutgoingMessage, field_size
from bridge.rejections import message_size as message_size
from bridge.trace import TRACEPARENT, new_traceparent, parse_traceparent

DEFAULT_TOPIC = "enqueue-requests"
GENERATED_KEY_PREFIX = "pub-"  # a key the publisher made (the caller gave none)
DEFAULT_TIMEOUT_S = CLI_TIMEOUT_S
PROJECT_VARIABLES = ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "GCLOUD_PROJECT")


# What the client library raises when Pub/Sub, the network or the credentials fail; each becomes
# a PublishError (``translate_error``). Anything else is a bug and propagates as it is.
CLIENT_ERRORS = (api_exceptions.GoogleAPIError, auth_exceptions.GoogleAuthError, OSError)


class PublishError(Exception):
    """Root of the publisher's errors; ``str(error)`` is a sentence for the user."""


class InvalidEnvelope(PublishError):
    """Raised if the bridge would reject the envelope. ``reason`` is the bridge's code,
    ``where`` locates it (``"line 3"``), ``field`` names the envelope field at fault."""

    def __init__(self, reason: Reason, detail: str, *, where: str | None = None) -> None:
        super().__init__(f"{where}: {detail}" if where else detail)
        self.reason = reason
        self.detail = detail
        self.where = where


class MissingTopic(PublishError):
    """Raised if no project is known for the topic, or the topic does not exist."""


class AccessDenied(PublishError):
    """Raised if there are no credentials, or they may not publish to the topic."""


class PublishFailed(PublishError):
    """Raised if Pub/Sub did not take a request; ``published`` messages were sent before it."""

    def __init__(self, message: str, *, published: int = 0) -> None:
        super().__init__(message)
        self.published = published


# -- envelopes -> messages (pure) -------------------------------------------------------------


def build_envelope(
    service: str,
    payload: Mapping[str, Any],
    *,
    delay_s: int = 0,
    idempotency_key: str | None = None,
    deadline_s: int | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Envelope:
    """The envelope, checked as the bridge will check it. Raised if invalid: ``InvalidEnvelope``."""
    fields: dict[str, Any] = {"service": service, "payload": payload, "delay_s": delay_s}
    if idempotency_key is not None:
        fields["idempotency_key"] = idempotency_key
    if deadline_s is not None:
        fields["deadline_s"] = deadline_s
    try:
        data = json.dumps(fields, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError) as e:
        reason = Reason.BAD_UTF8 if isinstance(e, UnicodeEncodeError) else Reason.BAD_JSON
        raise InvalidEnvelope(reason, f"the envelope cannot be written as JSON: {e}") from e
    return parse_row(data, max_body_bytes=max_body_bytes)


def parse_row(
    data: bytes | str, *, where: str | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> Envelope:
    """One JSON envelope (a ``rows.jsonl`` line), checked by the bridge's own parser."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    try:
        envelope = parse_envelope(raw)
        encode_body(envelope.payload, max_body_bytes=max_body_bytes)
        envelope_message(envelope)
    except PermanentError as e:
        raise InvalidEnvelope(e.reason, e.detail, where=where) from e
    return envelope


def envelope_message(envelope: Envelope) -> OutgoingMessage:
    """Envelope mode: the data is the envelope as UTF-8 JSON (fields at their default omitted)."""
    body = envelope.model_dump(exclude_none=True)
    if body.get("delay_s") == 0:
        del body["delay_s"]
    try:
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        encoded = data.encode("utf-8")  # a lone surrogate (from "\ud800" in JSON) fails here
    except UnicodeEncodeError as e:
        raise PermanentError(Reason.BAD_UTF8, f"payload: not encodable as UTF-8: {e}") from e
    except ValueError as e:  # NaN or Infinity: a worker could not parse it
        raise PermanentError(Reason.BAD_JSON, f"payload: not valid JSON: {e}") from e
    if parse_envelope(encoded) != envelope:  # what the bridge will read back is what was meant
        raise PermanentError(Reason.WRONG_TYPE, "payload: does not survive a JSON round trip")
    if message_size(OutgoingMessage(encoded, {})) > MAX_MESSAGE_BYTES:
        raise PermanentError(
            Reason.TOO_LARGE, f"envelope: over {MAX_MESSAGE_BYTES} bytes, Pub/Sub's message limit"
        )
    return OutgoingMessage(data=encoded, attributes={})


def checked_traceparent(traceparent: str) -> str:
    """``traceparent``, if it is a W3C traceparent; else raised: ``InvalidEnvelope``."""
    if parse_traceparent(traceparent) is None:
        raise InvalidEnvelope(
            Reason.WRONG_TYPE,
            f"traceparent: {traceparent[:80]!r} is not a W3C traceparent "
            "(00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>, lowercase)",
        )
    return traceparent


def traced_message(message: OutgoingMessage, traceparent: str | None) -> OutgoingMessage:
    """``message`` with a ``traceparent`` attribute: the one given (checked), or a new one.

    Raised if the given one is not a W3C traceparent: ``InvalidEnvelope`` (the bridge would
    ignore it, and the trace the caller means would be lost).
    """
    traceparent = new_traceparent() if traceparent is None else checked_traceparent(traceparent)
    return OutgoingMessage(
        data=message.data, attributes={**message.attributes, TRACEPARENT: traceparent}
    )


def batches(
    messages: Iterable[OutgoingMessage], *, topic_path: str
) -> Iterator[list[OutgoingMessage]]:
    """Split into publish requests within Pub/Sub's limits (``MAX_REQUEST_MESSAGES`` messages,
    ``MAX_REQUEST_BYTES``), order kept."""
    budget = MAX_REQUEST_BYTES - field_size(len(topic_path.encode("utf-8")))
    batch: list[OutgoingMessage] = []
    used = 0
    for message in messages:
        size = message_size(message)
        if size > budget:
            raise InvalidEnvelope(
                Reason.TOO_LARGE, f"a message of {size} bytes exceeds one request ({budget} bytes)"
            )
        if batch and (len(batch) == MAX_REQUEST_MESSAGES or used + size > budget):
            yield batch
            batch, used = [], 0
        batch.append(message)
        used += size
    if batch:
        yield batch


# -- where to publish ---------------------------------------------------------------------


def topic_path_for(topic: str, project: str | None = None) -> str:
    """``projects/P/topics/T`` from a full path, or a topic id and a project (argument, then
    ``GOOGLE_CLOUD_PROJECT``, ``CLOUDSDK_CORE_PROJECT``, ``GCLOUD_PROJECT``)."""
    return resource_path(topic, project, kind="topics")


def resource_path(name: str, project: str | None, *, kind: str) -> str:
    """``projects/P/<kind>/N`` from a full path, or from a short name and a project."""
    noun = kind.removesuffix("s")
    form = f"a {noun} id or projects/P/{kind}/NAME"
    if not name or name.strip() != name:
        raise MissingTopic(f"{noun} {name!r} is not {form}")
    if name.startswith("projects/"):
        parts = name.split("/")
        if len(parts) != 4 or parts[2] != kind or not parts[1] or not parts[3]:
            raise MissingTopic(f"{noun} {name!r} is not {form}")
        return name
    if "/" in name:
        raise MissingTopic(f"{noun} {name!r} is not {form}")
    project = project or next((os.environ[v] for v in PROJECT_VARIABLES if os.environ.get(v)), None)
    if not project:
        raise MissingTopic(
            f"no project for {noun} {name!r}: pass --project (project=...), or set "
            f"GOOGLE_CLOUD_PROJECT, or give the full path projects/P/{kind}/{name}"
        )
    return f"projects/{project}/{kind}/{name}"


# -- sending ------------------------------------------------------------------------------


class Transport(Protocol):
    def send(self, topic_path: str, messages: Sequence[OutgoingMessage]) -> list[str]:
        """Publish one request; the message ids, in order. Raised if not: ``PublishError``."""


class PubsubTransport:
    """Publish requests through google-cloud-pubsub (honours ``PUBSUB_EMULATOR_HOST``).

    ``client`` has the GAPIC ``publish(request=, timeout=)``; created on first use if None.
    """

    def __init__(self, *, timeout_s: float = DEFAULT_TIMEOUT_S, client: Any = None) -> None:
        self.timeout_s = timeout_s
        self._client = client
        self._lock = threading.Lock()

    def send(self, topic_path: str, messages: Sequence[OutgoingMessage]) -> list[str]:
        request = {
            "topic": topic_path,
            "messages": [{"data": m.data, "attributes": dict(m.attributes)} for m in messages],
        }
        try:
            response = self.client().publish(
                request=request, timeout=self.timeout_s, retry=transient_retry(self.timeout_s)
            )
        except CLIENT_ERRORS as e:
            raise translate_error(e, topic_path=topic_path) from e
        return list(response.message_ids)

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    from google.cloud import pubsub_v1  # type: ignore[attr-defined]  # heavy
                    from google.pubsub_v1.services.publisher.client import (
                        PublisherClient as Gapic,
                    )

                    # The wrapper sets up the emulator and credentials; its own publish()
                    # batches by itself, so call the underlying one-request publish.
                    wrapper = pubsub_v1.PublisherClient()
                    self._client = types.SimpleNamespace(
                        publish=functools.partial(Gapic.publish, wrapper)
                    )
                except CLIENT_ERRORS as e:
                    raise translate_error(e, topic_path=None) from e
            return self._client


def transient_retry(total_s: float) -> Any:
    """Retry what may pass (unavailable, aborted, ...) with jittered backoff, ``total_s`` in all.

    The client's default retry runs for minutes whatever ``timeout`` says.
    """
    from google.api_core import exceptions as api
    from google.api_core import retry

    return retry.Retry(
        predicate=retry.if_exception_type(
            api.Aborted,
            api.Cancelled,
            api.DeadlineExceeded,
            api.InternalServerError,
            api.ResourceExhausted,
            api.ServiceUnavailable,
            api.Unknown,
        ),
        initial=0.1,
        maximum=5.0,
        multiplier=2.0,
        timeout=total_s,
    )


def translate_error(
    error: Exception, *, topic_path: str | None, doing: str = "publishing to"
) -> PublishError:
    """One boundary for the client library's errors: each becomes a ``PublishError`` to act on.

    ``doing`` says what failed, for the sentence (``"pulling from"`` a subscription, ...).
    """
    api, auth = api_exceptions, auth_exceptions
    where = topic_path or "Pub/Sub"
    publishing = doing.startswith("publishing")
    if isinstance(error, PublishError):
        return error
    if isinstance(error, auth.DefaultCredentialsError):
        return AccessDenied(
            f"no Google credentials: run `gcloud auth application-default login`, or set "
            f"PUBSUB_EMULATOR_HOST to use the emulator ({_first_line(error)})"
        )
    if isinstance(error, api.NotFound):
        return MissingTopic(f"{where} does not exist (check the project and the name)")
    if isinstance(error, api.PermissionDenied | api.Unauthenticated | auth.RefreshError):
        role = (
            "roles/pubsub.publisher on the topic"
            if publishing
            else ("roles/pubsub.subscriber on the subscription")
        )
        return AccessDenied(
            f"not allowed: {doing} {where}: grant {role} to the account you use "
            f"({_first_line(error)})"
        )
    if isinstance(error, api.RetryError):
        cause = _first_line(error.cause) if error.cause else "none"
        return PublishFailed(
            f"{doing} {where}: Pub/Sub did not answer in time (--timeout-s); last error: {cause}"
        )
    if isinstance(error, api.InvalidArgument):
        return PublishFailed(f"Pub/Sub refused the request ({doing} {where}): {_first_line(error)}")
    return PublishFailed(f"{doing} {where} failed: {type(error).__name__}: {_first_line(error)}")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@dataclass(frozen=True, slots=True)
class Published:
    """A traced publish: the message id, and the trace context it carries (to log or store)."""

    message_id: str
    traceparent: str


@dataclass
class Publisher:
    """Publishes envelopes to one topic. Reuse one: it keeps its client."""

    topic: str = DEFAULT_TOPIC
    project: str | None = None
    transport: Transport = field(default_factory=PubsubTransport)

    @property
    def topic_path(self) -> str:
        return topic_path_for(self.topic, self.project)

    def publish(self, envelope: Envelope) -> str:
        """Publish one envelope; its message id."""
        [message_id] = self.publish_many([envelope])
        return message_id

    def publish_traced(self, envelope: Envelope, *, traceparent: str | None = None) -> Published:
        """Publish one envelope with a ``traceparent`` (``traceparent``, or a new one)."""
        message = traced_message(envelope_message_or_raise(envelope), traceparent)
        [message_id] = self.transport.send(self.topic_path, [message])
        return Published(message_id=message_id, traceparent=message.attributes[TRACEPARENT])

    def publish_many(
        self,
        envelopes: Iterable[Envelope],
        *,
        on_request: Callable[[int], None] | None = None,
    ) -> list[str]:
        """Publish many, in as few requests as the limits allow; the message ids, in order.

        ``on_request(n)`` is called after each request with the number of messages it carried.
        Raised if a request fails: ``PublishError`` (``PublishFailed.published`` counts the
        messages already sent, so a caller can resume after them).
        """
        messages = [envelope_message_or_raise(e) for e in envelopes]
        return self._send(messages, on_request=on_request)

    def publish_many_traced(
        self,
        envelopes: Iterable[Envelope],
        *,
        on_request: Callable[[int], None] | None = None,
    ) -> list[Published]:
        """``publish_many``, each message with a new sampled ``traceparent`` of its own; what
        was published, in order. Raised as ``publish_many``."""
        messages = [traced_message(envelope_message_or_raise(e), None) for e in envelopes]
        message_ids = self._send(messages, on_request=on_request)
        return [
            Published(message_id=message_id, traceparent=message.attributes[TRACEPARENT])
            for message_id, message in zip(message_ids, messages, strict=True)
        ]

    def _send(
        self, messages: Sequence[OutgoingMessage], *, on_request: Callable[[int], None] | None
    ) -> list[str]:
        topic_path = self.topic_path
        message_ids: list[str] = []
        for batch in batches(messages, topic_path=topic_path):
            try:
                message_ids += self.transport.send(topic_path, batch)
            except PublishFailed as e:
                raise PublishFailed(str(e), published=len(message_ids)) from e
            if on_request is not None:
                on_request(len(batch))
        return message_ids


def with_key(envelope: Envelope) -> Envelope:
    """``envelope`` with an idempotency key: its own, or a new random one (``pub-<uuid4 hex>``)."""
    if envelope.idempotency_key is not None:
        return envelope
    key = f"{GENERATED_KEY_PREFIX}{uuid.uuid4().hex}"
    return envelope.model_copy(update={"idempotency_key": key})


def envelope_message_or_raise(envelope: Envelope) -> OutgoingMessage:
    """The message to send for ``envelope``, with its key (``with_key``): built once, so every
    retry of the request carries the same key."""
    try:
        return envelope_message(with_key(envelope))
    except PermanentError as e:
        raise InvalidEnvelope(e.reason, e.detail) from e


_shared: Transport | None = None
_shared_lock = threading.Lock()


def _default_transport() -> Transport:
    """The process's one transport (one client), made on first use: ``publish`` in a loop is
    cheap."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = PubsubTransport()
        return _shared


def publish(
    service: str,
    payload: Mapping[str, Any],
    *,
    delay_s: int = 0,
    idempotency_key: str | None = None,
    deadline_s: int | None = None,
    topic: str = DEFAULT_TOPIC,
    project: str | None = None,
) -> str:
    """Check the envelope as the bridge will, publish it, return its message id.

    Raised if invalid (nothing sent): ``InvalidEnvelope``; if not published: ``PublishError``.
    One client is kept for the process, so calling this in a loop is cheap.
    """
    envelope = build_envelope(
        service, payload, delay_s=delay_s, idempotency_key=idempotency_key, deadline_s=deadline_s
    )
    return Publisher(topic=topic, project=project, transport=_default_transport()).publish(envelope)


def publish_traced(
    service: str,
    payload: Mapping[str, Any],
    *,
    traceparent: str | None = None,
    delay_s: int = 0,
    idempotency_key: str | None = None,
    deadline_s: int | None = None,
    topic: str = DEFAULT_TOPIC,
    project: str | None = None,
) -> Published:
    """``publish``, with a ``traceparent`` attribute: the caller's (say, its current span's), or
    a new sampled one. The bridge forwards it to the worker and logs its trace id, so the
    publisher's, the bridge's and the worker's log lines group as one trace. Raised as
    ``publish``; an invalid ``traceparent`` is ``InvalidEnvelope`` (nothing sent).
    """
    envelope = build_envelope(
        service, payload, delay_s=delay_s, idempotency_key=idempotency_key, deadline_s=deadline_s
    )
    publisher = Publisher(topic=topic, project=project, transport=_default_transport())
    return publisher.publish_traced(envelope, traceparent=traceparent)
