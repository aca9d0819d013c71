"""The Pub/Sub entry: one CloudEvent in, one task (or one rejection) out.

Ack or retry is decided here and nowhere else: returning acks the message (2xx); raising
``TransientError`` makes the function answer 5xx, so Pub/Sub redelivers it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from time import perf_counter
from typing import Any

from bridge.config import Settings
from bridge.envelope import Envelope, parse_attribute_envelope, parse_envelope
from bridge.errors import PermanentError, Reason, TransientError
from bridge.event import PubsubMessage, UnreadableMessage, decode_event, printable_id
from bridge.gateway import TaskGateway
from bridge.logs import Outcome, duplicate_note, fingerprint, log_outcome
from bridge.naming import KeyKind
from bridge.plan import DedupeKey, TaskSpec, plan_task
from bridge.rejections import WRAPPED_ATTRIBUTE, RejectionSink, rejection_for, unwrap
from bridge.trace import log_fields, trace_of

SERVICE_ATTRIBUTE = "service"  # its presence selects attribute mode
ORIGIN_ATTRIBUTE = "bridge_origin_message_id"  # set by `bridge replay`: name as the original
# Only a Pub/Sub message id (decimal digits), never free text: it names the task and travels in
# the X-Idempotency-Key header.
ORIGIN_FORMAT = re.compile(r"[0-9]{1,64}")


def utc_now() -> datetime:
    return datetime.now(UTC)


def envelope_of(message: PubsubMessage) -> Envelope:
    if SERVICE_ATTRIBUTE in message.attributes:
        return parse_attribute_envelope(message.data, message.attributes)
    return parse_envelope(message.data)


def dedupe_key_of(envelope: Envelope, message: PubsubMessage) -> DedupeKey:
    """Raised if ``bridge_origin_message_id`` is not a message id: ``PermanentError``."""
    origin = message.attributes.get(ORIGIN_ATTRIBUTE)
    if origin is not None and not ORIGIN_FORMAT.fullmatch(origin):
        raise PermanentError(
            Reason.BAD_EVENT,
            f"attribute {ORIGIN_ATTRIBUTE}: not a Pub/Sub message id (decimal digits): "
            f"{printable_id(origin)[:80]!r}",
            field=ORIGIN_ATTRIBUTE,
        )
    if envelope.idempotency_key:
        return DedupeKey(KeyKind.IDEMPOTENCY_KEY, envelope.idempotency_key)
    return DedupeKey(KeyKind.MESSAGE_ID, origin or message.message_id)


def unwrapped(message: PubsubMessage) -> PubsubMessage:
    """The message a ``bridge_wrapped`` one carries (a replay whose attributes did not fit
    beside ``bridge_origin_message_id``); any other as is. Raised if the wrapped form is not
    one: ``UnreadableMessage`` (``bad_event``)."""
    if message.attributes.get(WRAPPED_ATTRIBUTE) != "true":
        return message
    try:
        data, attributes = unwrap(message.data)
    except ValueError as e:
        raise UnreadableMessage(
            Reason.BAD_EVENT,
            f"{WRAPPED_ATTRIBUTE}=true but the data is not {{'data', 'attributes'}}: {e}",
            kept=message,
        ) from e
    return PubsubMessage(message.message_id, data, attributes, message.publish_time)


def plan_message(message: PubsubMessage, *, settings: Settings, now: datetime) -> TaskSpec:
    """The task a Pub/Sub message becomes; raised if it cannot: ``PermanentError``."""
    message = unwrapped(message)
    return plan_envelope(envelope_of(message), message, settings=settings, now=now)


def plan_envelope(
    envelope: Envelope, message: PubsubMessage, *, settings: Settings, now: datetime
) -> TaskSpec:
    return plan_task(
        envelope,
        settings=settings,
        dedupe=dedupe_key_of(envelope, message),
        message_id=message.message_id,
        # Counting the delay from the publish time keeps a redelivered message on schedule.
        not_before=message.publish_time or now,
        now=now,
        traceparent=traceparent_of(message),
        exact_payload=exact_payload_of(message),
    )


def traceparent_of(message: PubsubMessage) -> str | None:
    """The publisher's ``traceparent`` (or Pub/Sub's OpenTelemetry one), if valid."""
    context = trace_of(message.attributes)
    return context.traceparent if context else None


def exact_payload_of(message: PubsubMessage) -> bytes | None:
    """Attribute mode: the data is the payload, forwarded byte for byte; envelope mode: None."""
    return message.data if SERVICE_ATTRIBUTE in message.attributes else None


class PubsubBridge:
    def __init__(
        self,
        *,
        settings: Settings,
        gateway: TaskGateway,
        rejections: RejectionSink,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._settings = settings
        self._gateway = gateway
        self._rejections = rejections
        self._clock = clock

    def handle(self, *, event_id: str | None, event_time: str | None, data: Any) -> Outcome:
        """Raised if worth retrying: ``TransientError``. Any other end acks the message."""
        started = perf_counter()
        try:
            message = unwrapped(decode_event(event_id=event_id, event_time=event_time, data=data))
        except UnreadableMessage as e:
            # Keep what could be read of the message; without even that, the whole event body.
            unreadable = e.kept or PubsubMessage(
                printable_id(event_id), _event_bytes(data), {}, None
            )
            return self._reject(unreadable, e, started=started)
        envelope: Envelope | None = None
        try:
            envelope = envelope_of(message)
            spec = plan_envelope(envelope, message, settings=self._settings, now=self._clock())
        except PermanentError as e:
            service = envelope.service if envelope else None
            return self._reject(message, e, started=started, service=service)
        try:
            result = self._gateway.create(spec)
        except PermanentError as e:
            return self._reject(message, e, started=started, service=envelope.service)
        except TransientError as e:
            self._log(Outcome.RETRY, message, started, spec=spec, reason=e.code, error=e.detail)
            raise
        outcome = Outcome.DUPLICATE if result.duplicate else Outcome.CREATED
        severity, note = duplicate_note(result.task_state)
        self._log(
            outcome,
            message,
            started,
            spec=spec,
            severity=severity,
            note=note,
            task=result.task_name,
            task_state=result.task_state,
        )
        return outcome

    def _reject(
        self,
        message: PubsubMessage,
        error: PermanentError,
        *,
        started: float,
        service: str | None = None,
    ) -> Outcome:
        rejection = rejection_for(
            data=message.data,
            attributes=message.attributes,
            message_id=message.message_id,
            error=error,
        )
        try:
            self._rejections.reject(rejection)
        except TransientError as e:
            self._log(
                Outcome.RETRY,
                message,
                started,
                service=service,
                reason=error.reason.value,
                error=e.detail,
            )
            raise
        severity = "ERROR" if self._settings.drop_rejected else None
        self._log(
            Outcome.REJECTED,
            message,
            started,
            service=service,
            reason=error.reason.value,
            error=error.detail,
            severity=severity,
        )
        return Outcome.REJECTED

    def _log(
        self,
        outcome: Outcome,
        message: PubsubMessage,
        started: float,
        *,
        spec: TaskSpec | None = None,
        service: str | None = None,
        severity: str | None = None,
        note: str = "",
        **fields: Any,
    ) -> None:
        log_outcome(
            outcome,
            message=f"{outcome.value} {message.message_id}{note}",
            severity=severity,
            message_id=message.message_id,
            service=spec.route.service
            if spec
            else service or message.attributes.get(SERVICE_ATTRIBUTE),
            queue=spec.route.queue_id if spec else None,
            data_bytes=len(message.data),
            data_sha256=fingerprint(message.data),
            latency_ms=round((perf_counter() - started) * 1000, 2),
            **log_fields(trace_of(message.attributes), project_id=self._settings.project_id),
            **fields,
        )


def _event_bytes(data: Any) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8", "surrogatepass")
    return json.dumps(data, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")
