"""``bridge replay``: read rejected or dead-lettered messages, show why, republish chosen ones.

A replayed message must become the task the original would have become, and a second replay of
the same message the same task again. So the replay carries the original data and attributes,
minus what the bridge (``bridge_*``) and Pub/Sub (``CloudPubSubDeadLetter*``) added, plus
``bridge_origin_message_id``, which the bridge names the task by (when there is no idempotency
key). The original id is, in order: an existing ``bridge_origin_message_id`` (a replay of a
replay), ``bridge_message_id`` (rejections), else the message's own id: Pub/Sub gives a
dead-lettered message a new id and keeps no attribute with the old one.

Nothing is acknowledged but what was republished; everything else is released (nacked) at once.
"""

from __future__ import annotations

import argparse
import binascii
import json
import warnings
from base64 import b64decode
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any, Protocol

from bridge.config import DEFAULT_MAX_BODY_BYTES
from bridge.errors import PermanentError, Reason
from bridge.event import PubsubMessage
from bridge.plan import encode_body
from bridge.publisher import (
    DEFAULT_TIMEOUT_S,
    DEFAULT_TOPIC,
    MAX_REQUEST_BYTES,
    PublishError,
    PublishFailed,
    PubsubTransport,
    Transport,
    batches,
    resource_path,
    topic_path_for,
    transient_retry,
    translate_error,
)
from bridge.pubsub_entry import ORIGIN_ATTRIBUTE, SERVICE_ATTRIBUTE, envelope_of
from bridge.rejections import (
    ERROR_ATTRIBUTE,
    MAX_ATTRIBUTES,
    MAX_KEY_BYTES,
    MAX_VALUE_BYTES,
    MESSAGE_ID_ATTRIBUTE,
    REASON_ATTRIBUTE,
    WRAPPED_ATTRIBUTE,
    OutgoingMessage,
)

BRIDGE_PREFIX = "bridge_"
DEAD_LETTER_PREFIX = "CloudPubSubDeadLetterSource"
DEAD_LETTERED = "dead_lettered"  # the reason shown for dead-lettered messages
LEASE_S = 600  # Pub/Sub's maximum ack deadline: held while we list and republish
DEFAULT_MAX_MESSAGES = 1000
DEFAULT_WAIT_S = 5.0
REASONS = (*(reason.value for reason in Reason), DEAD_LETTERED)  # what --reason accepts


@dataclass(frozen=True, slots=True)
class Pulled:
    ack_id: str
    message_id: str
    data: bytes
    attributes: Mapping[str, str]
    publish_time: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """One pulled message, what it was, and what republishing it would send."""

    pulled: Pulled
    reason: str  # bridge_reason, "dead_lettered", or "-" for a message of neither kind
    error: str  # bridge_error, or what Pub/Sub says about the dead-lettering
    origin_message_id: str
    service: str | None
    replay: OutgoingMessage | None  # None when it cannot be republished as is
    problem: str | None  # why not, or why the bridge would reject it again

    def matches(self, *, reasons: Sequence[str], message_ids: Sequence[str]) -> bool:
        ids = {self.pulled.message_id, self.origin_message_id}
        if MESSAGE_ID_ATTRIBUTE in self.pulled.attributes:
            ids.add(self.pulled.attributes[MESSAGE_ID_ATTRIBUTE])
        return (not reasons or self.reason in reasons) and (
            not message_ids or bool(ids & set(message_ids))
        )


def candidate_for(pulled: Pulled, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> Candidate:
    """What ``pulled`` was and what its replay is. Pure: no network."""
    outer = pulled.attributes
    data, original = pulled.data, dict(outer)
    problem: str | None = None
    if outer.get(WRAPPED_ATTRIBUTE) == "true":
        try:
            data, original = unwrap(pulled.data)
        except ValueError as e:
            problem = f"cannot unwrap {WRAPPED_ATTRIBUTE} data: {e}"
    if REASON_ATTRIBUTE in outer:
        reason, error = outer[REASON_ATTRIBUTE], outer.get(ERROR_ATTRIBUTE, "")
    elif any(key.startswith(DEAD_LETTER_PREFIX) for key in outer):
        reason = DEAD_LETTERED
        error = (
            f"not acknowledged after {outer.get(DEAD_LETTER_PREFIX + 'DeliveryCount', '?')} "
            f"deliveries to {outer.get(DEAD_LETTER_PREFIX + 'Subscription', '?')}"
        )
    else:
        reason, error = "-", "neither rejected by the bridge nor dead-lettered"
    origin = (
        original.get(ORIGIN_ATTRIBUTE)
        or outer.get(ORIGIN_ATTRIBUTE)
        or outer.get(MESSAGE_ID_ATTRIBUTE)
        or pulled.message_id
    )
    attributes = {
        key: value
        for key, value in original.items()
        if not key.startswith((BRIDGE_PREFIX, DEAD_LETTER_PREFIX))
    }
    attributes[ORIGIN_ATTRIBUTE] = origin
    replay = OutgoingMessage(data=data, attributes=attributes)
    if problem is None:
        problem = _does_not_fit(replay) or _rejected_again(replay, origin, max_body_bytes)
    return Candidate(
        pulled=pulled,
        reason=reason,
        error=error,
        origin_message_id=origin,
        service=_service_of(replay),
        replay=None if problem and problem.startswith("cannot") else replay,
        problem=problem,
    )


def unwrap(data: bytes) -> tuple[bytes, dict[str, str]]:
    """``{"data": <base64>, "attributes": {...}}`` (a ``bridge_wrapped`` rejection) -> parts."""
    try:
        wrapped = json.loads(data)
        inner = b64decode(wrapped["data"], validate=True)
        attributes = wrapped["attributes"]
    except (ValueError, KeyError, TypeError, binascii.Error) as e:
        raise ValueError(f"{type(e).__name__}: {e}") from e
    if not isinstance(attributes, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
    ):
        raise ValueError("its attributes are not a string map")
    return inner, attributes


def _does_not_fit(message: OutgoingMessage) -> str | None:
    attributes = message.attributes
    if len(attributes) > MAX_ATTRIBUTES:
        return f"cannot republish: {len(attributes)} attributes, Pub/Sub allows {MAX_ATTRIBUTES}"
    for key, value in attributes.items():
        if not key or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            return f"cannot republish: attribute name {key[:40]!r} is empty or too long"
        if len(value.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
            return f"cannot republish: attribute {key!r} is over {MAX_VALUE_BYTES} bytes"
    if len(message.data) > MAX_REQUEST_BYTES - 100_000:
        return "cannot republish: over Pub/Sub's 10 MB message limit"
    return None


def _rejected_again(message: OutgoingMessage, origin: str, max_body_bytes: int) -> str | None:
    """The bridge's own check, as the function will run it (service names excepted)."""
    as_received = PubsubMessage(origin, message.data, message.attributes, None)
    try:
        envelope = envelope_of(as_received)
        encode_body(envelope.payload, max_body_bytes=max_body_bytes)
    except PermanentError as e:
        return f"would be rejected again: {e.reason.value}: {e.detail}"
    return None


def _service_of(message: OutgoingMessage) -> str | None:
    if SERVICE_ATTRIBUTE in message.attributes:
        return message.attributes[SERVICE_ATTRIBUTE]
    try:
        body = json.loads(message.data)
    except ValueError:
        return None
    service = body.get("service") if isinstance(body, dict) else None
    return service if isinstance(service, str) else None


# -- the subscription ---------------------------------------------------------------------


class Subscription(Protocol):
    def pull(self, max_messages: int) -> list[Pulled]:
        """What is there now (waiting a little when empty); leased to us until released.

        Empty only when Pub/Sub answered that there is nothing. Raised if it did not answer, or
        failed: ``PublishError``.
        """

    def extend(self, ack_ids: Sequence[str], seconds: int) -> None: ...

    def ack(self, ack_ids: Sequence[str]) -> None: ...

    def release(self, ack_ids: Sequence[str]) -> None:
        """Nack: let Pub/Sub deliver these again at once, untouched."""


class PubsubSubscription:
    """A pull subscription through google-cloud-pubsub (honours ``PUBSUB_EMULATOR_HOST``)."""

    def __init__(
        self, path: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, wait_s: float = DEFAULT_WAIT_S
    ) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self.wait_s = wait_s
        self._client: Any = None

    def _api(self) -> Any:
        if self._client is None:
            try:
                from google.cloud import pubsub_v1  # type: ignore[attr-defined]  # heavy

                self._client = pubsub_v1.SubscriberClient()
            except Exception as e:
                raise translate_error(e, topic_path=self.path, doing="pulling from") from e
        return self._client

    def pull(self, max_messages: int) -> list[Pulled]:
        from google.api_core import exceptions as api

        request = {"subscription": self.path, "max_messages": max_messages}
        response: Any = None
        if self.wait_s > 0:
            try:  # wait up to wait_s for messages to arrive
                response = self._api().pull(request=request, timeout=self.wait_s, retry=None)
            except (api.DeadlineExceeded, api.RetryError):
                response = None  # nothing within wait_s, or no answer at all: ask again
            except Exception as e:
                raise translate_error(e, topic_path=self.path, doing="pulling from") from e
        if response is None:
            response = self._pull_now(request)
        return [
            Pulled(
                ack_id=item.ack_id,
                message_id=item.message.message_id,
                data=bytes(item.message.data),
                attributes=dict(item.message.attributes),
                publish_time=_rfc3339(item.message.publish_time),
            )
            for item in response.received_messages
        ]

    def _pull_now(self, request: dict[str, Any]) -> Any:
        """A pull answered at once, empty or not: only an answer tells "empty" from "no answer"."""
        from google.api_core import exceptions as api

        try:
            with warnings.catch_warnings():  # the flag is deprecated, and the only way to ask this
                warnings.simplefilter("ignore", DeprecationWarning)
                return self._api().pull(
                    request={**request, "return_immediately": True},
                    timeout=self.timeout_s,
                    retry=None,
                )
        except (api.DeadlineExceeded, api.RetryError) as e:
            raise PublishFailed(
                f"pulling from {self.path}: Pub/Sub did not answer within {self.timeout_s:g} s "
                "(--timeout-s): nothing was read, and the subscription may well hold messages"
            ) from e
        except Exception as e:
            raise translate_error(e, topic_path=self.path, doing="pulling from") from e

    def extend(self, ack_ids: Sequence[str], seconds: int) -> None:
        self._modify(ack_ids, seconds)

    def release(self, ack_ids: Sequence[str]) -> None:
        self._modify(ack_ids, 0)

    def ack(self, ack_ids: Sequence[str]) -> None:
        for start in range(0, len(ack_ids), 1000):
            chunk = list(ack_ids[start : start + 1000])
            try:
                self._api().acknowledge(
                    request={"subscription": self.path, "ack_ids": chunk},
                    timeout=self.timeout_s,
                    retry=transient_retry(self.timeout_s),
                )
            except Exception as e:
                raise translate_error(e, topic_path=self.path, doing="acknowledging on") from e

    def _modify(self, ack_ids: Sequence[str], seconds: int) -> None:
        for start in range(0, len(ack_ids), 1000):
            chunk = list(ack_ids[start : start + 1000])
            try:
                self._api().modify_ack_deadline(
                    request={
                        "subscription": self.path,
                        "ack_ids": chunk,
                        "ack_deadline_seconds": seconds,
                    },
                    timeout=self.timeout_s,
                    retry=transient_retry(self.timeout_s),
                )
            except Exception as e:
                raise translate_error(
                    e, topic_path=self.path, doing="changing ack deadlines on"
                ) from e


def _rfc3339(value: Any) -> str:
    try:
        return str(value.isoformat())
    except AttributeError:
        return str(value or "")


# -- the run ------------------------------------------------------------------------------


@dataclass
class ReplayReport:
    seen: list[Candidate]
    chosen: list[Candidate]
    republished: dict[str, str]  # pulled message id -> new message id
    skipped: list[Candidate]  # chosen, not republished (a problem, and no --force)


def collect(subscription: Subscription, *, max_messages: int) -> list[Candidate]:
    """Pull until the subscription is empty or ``max_messages``; each message once.

    Raised if a step fails: ``PublishError``, after releasing everything already pulled (not
    left leased for ``LEASE_S``).
    """
    seen: dict[str, Candidate] = {}
    held: list[str] = []  # every ack id pulled
    extra_ack_ids: list[str] = []  # duplicate deliveries of a message already held
    try:
        while len(seen) < max_messages:
            pulled = subscription.pull(min(100, max_messages - len(seen)))
            if not pulled:
                break
            held += [p.ack_id for p in pulled]
            subscription.extend([p.ack_id for p in pulled], LEASE_S)
            for item in pulled:
                if item.message_id in seen:
                    extra_ack_ids.append(item.ack_id)
                else:
                    seen[item.message_id] = candidate_for(item)
    except BaseException as e:  # PublishError, Ctrl-C, a bug: release, then let it through
        _release_after_failure(subscription, held, e)
        raise
    if extra_ack_ids:
        subscription.release(extra_ack_ids)
    return list(seen.values())


def _release_after_failure(
    subscription: Subscription, ack_ids: Sequence[str], error: BaseException
) -> None:
    if not ack_ids:
        return
    try:
        subscription.release(ack_ids)
    except PublishError as release_error:  # the first error is the one to report
        error.add_note(
            f"{len(ack_ids)} pulled message(s) could not be released ({release_error}); "
            f"Pub/Sub delivers them again within {LEASE_S} s"
        )


def replay(
    subscription: Subscription,
    *,
    topic_path: str,
    transport: Transport,
    select_all: bool = False,
    reasons: Sequence[str] = (),
    message_ids: Sequence[str] = (),
    dry_run: bool = False,
    force: bool = False,
    max_messages: int = DEFAULT_MAX_MESSAGES,
) -> ReplayReport:
    """List, then republish the chosen messages and acknowledge exactly those.

    Nothing is chosen unless ``select_all`` or a filter is given (a listing). Raised if
    Pub/Sub fails: ``PublishError``; whatever was not acknowledged is released first.
    """
    seen = collect(subscription, max_messages=max_messages)
    choosing = select_all or bool(reasons) or bool(message_ids)
    chosen = [c for c in seen if choosing and c.matches(reasons=reasons, message_ids=message_ids)]
    sendable = [c for c in chosen if c.replay is not None and (force or not c.problem)]
    skipped = [c for c in chosen if c not in sendable]
    republished: dict[str, str] = {}
    try:
        if not dry_run:
            for batch in _batches_of(sendable, topic_path=topic_path):
                new_ids = transport.send(topic_path, [c.replay for c in batch if c.replay])
                # Acknowledge right after each request: a failure later keeps these done.
                subscription.ack([c.pulled.ack_id for c in batch])
                for candidate, new_id in zip(batch, new_ids, strict=True):
                    republished[candidate.pulled.message_id] = new_id
    except PublishFailed as e:
        raise PublishFailed(
            f"{e}; {len(republished)} message(s) were republished and acknowledged before this "
            "failure, the others were released untouched: run the same replay again",
            published=len(republished),
        ) from e
    finally:
        done = set(republished)
        subscription.release([c.pulled.ack_id for c in seen if c.pulled.message_id not in done])
    return ReplayReport(seen=seen, chosen=chosen, republished=republished, skipped=skipped)


def _batches_of(candidates: Sequence[Candidate], *, topic_path: str) -> list[list[Candidate]]:
    by_message = {id(c.replay): c for c in candidates}
    messages = [c.replay for c in candidates if c.replay is not None]
    return [
        [by_message[id(m)] for m in batch] for batch in batches(messages, topic_path=topic_path)
    ]


# -- the command ----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--subscription",
        required=True,
        help="pull subscription of the rejected or dead-letter topic (id or full path)",
    )
    choose = parser.add_argument_group("what to republish (none given: list only)")
    choose.add_argument("--all", action="store_true", help="every message read")
    choose.add_argument(
        "--reason",
        action="append",
        default=[],
        metavar="R",
        choices=REASONS,
        help="messages with this bridge_reason (unknown_service, ...) or dead_lettered; "
        "repeatable; one of: " + ", ".join(REASONS),
    )
    choose.add_argument(
        "--message-id",
        action="append",
        default=[],
        metavar="ID",
        help="this message (its id, or the original's); repeatable",
    )
    parser.add_argument(
        "--topic",
        default=DEFAULT_TOPIC,
        help=f"where to republish: topic id or projects/P/topics/T (default {DEFAULT_TOPIC})",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would be republished; ack nothing"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="republish chosen messages even if the bridge would reject them again",
    )
    parser.add_argument(
        "--max",
        type=int,
        default=DEFAULT_MAX_MESSAGES,
        metavar="N",
        help=f"read at most N messages (default {DEFAULT_MAX_MESSAGES})",
    )
    parser.add_argument(
        "--wait-s",
        type=non_negative_float,
        default=DEFAULT_WAIT_S,
        metavar="S",
        help=f"stop reading after S seconds without a message (default {DEFAULT_WAIT_S:.0f})",
    )


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < float("inf"):  # also NaN
        raise argparse.ArgumentTypeError(f"{text!r} must be a number of seconds, 0 or more")
    return value


def run_replay(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from bridge.cli import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, UserError

    if args.all and (args.reason or args.message_id):
        raise UserError("--all chooses everything: leave out --reason / --message-id", EXIT_USAGE)
    if args.max < 1:
        raise UserError("--max must be 1 or more", EXIT_USAGE)
    subscription_path = resource_path(args.subscription, args.project, kind="subscriptions")
    topic_path = topic_path_for(args.topic, args.project)
    subscription = PubsubSubscription(
        subscription_path, timeout_s=args.timeout_s, wait_s=args.wait_s
    )
    report = replay(
        subscription,
        topic_path=topic_path,
        transport=PubsubTransport(timeout_s=args.timeout_s),
        select_all=args.all,
        reasons=args.reason,
        message_ids=args.message_id,
        dry_run=args.dry_run,
        force=args.force,
        max_messages=args.max,
    )
    for candidate in report.seen:
        print(_describe(candidate, report=report, dry_run=args.dry_run), file=out)
    choosing = args.all or args.reason or args.message_id
    verb = "would republish" if args.dry_run else "republished"
    count = len(report.chosen) - len(report.skipped) if args.dry_run else len(report.republished)
    summary = f"{len(report.seen)} message(s) read from {subscription_path}"
    if choosing:
        summary += f"; {len(report.chosen)} chosen; {verb} {count} to {topic_path}"
    else:
        summary += "; none republished (choose with --all, --reason or --message-id)"
    if report.skipped:
        summary += (
            f"; {len(report.skipped)} chosen but not republished (see 'not republished' above;"
            " fix the cause, or --force)"
        )
    if not args.dry_run:
        summary += "; only the republished were acknowledged"
    print(summary, file=err)
    return EXIT_PARTIAL if report.skipped else EXIT_OK


def _describe(candidate: Candidate, *, report: ReplayReport, dry_run: bool) -> str:
    pulled = candidate.pulled
    parts = [
        pulled.message_id,
        candidate.reason,
        f"service={candidate.service or '?'}",
        f"origin={candidate.origin_message_id}",
        f"published={pulled.publish_time}",
        f"error={json.dumps(candidate.error, ensure_ascii=False)}",
    ]
    if pulled.message_id in report.republished:
        parts.append(f"-> republished as {report.republished[pulled.message_id]}")
    elif candidate in report.skipped:
        parts.append(f"-> not republished: {candidate.problem}")
    elif dry_run and candidate in report.chosen:
        parts.append("-> would republish")
    elif candidate.problem:
        parts.append(f"(note: {candidate.problem})")
    return "  ".join(parts)
