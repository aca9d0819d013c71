"""``bridge replay``: read rejected or dead-lettered messages, show why, republish chosen ones.

A replayed message must become the task the original would have become, and a second replay of
the same message the same task again. So the replay carries the original data and attributes,
minus what the bridge (``bridge_*``) and Pub/Sub (``CloudPubSubDeadLetter*``) added, plus
``bridge_origin_message_id``, which the bridge names the task by (when there is no idempotency
key). The original id is, in order, the first that is a message id (decimal digits, as the
bridge requires): an existing ``bridge_origin_message_id`` (a replay of a replay),
``bridge_message_id`` (rejections), else the message's own id: Pub/Sub gives a dead-lettered
message a new id and keeps no attribute with the old one. A replay whose attributes cannot all
be published (the original had as many as Pub/Sub allows) goes out wrapped; the bridge unwraps
it. Two rejections of one delivery (same ``bridge_message_id``) are replayed once.

Nothing is acknowledged but what was republished; everything else is released (nacked) at once.
The subscription itself is read by ``bridge.cli.subscription``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from bridge.cli.exits import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, UserError
from bridge.cli.options import add_where, exit_codes_text, non_negative_float, wrap
from bridge.cli.subscription import DEFAULT_WAIT_S, PubsubSubscription, Pulled, Subscription
from bridge.errors import PermanentError, Reason
from bridge.event import PubsubMessage
from bridge.limits import (
    DEFAULT_MAX_BODY_BYTES,
    MAX_ACK_DEADLINE_S,
    MAX_MESSAGE_BYTES,
    MAX_REQUEST_BYTES,
    REPLAY_MAX_MESSAGES,
    REPLAY_PULL_MESSAGES,
)
from bridge.message import (
    ORIGIN_ATTRIBUTE,
    ORIGIN_FORMAT,
    SERVICE_ATTRIBUTE,
    envelope_of,
    exact_payload_of,
)
from bridge.plan import encode_body, exact_body
from bridge.publishing.publisher import (
    DEFAULT_TOPIC,
    PublishError,
    PublishFailed,
    PubsubTransport,
    Transport,
    batches,
    resource_path,
    topic_path_for,
)
from bridge.rejections import (
    DATA_BYTES_ATTRIBUTE,
    DATA_SHA256_ATTRIBUTE,
    ERROR_ATTRIBUTE,
    MESSAGE_ID_ATTRIBUTE,
    REASON_ATTRIBUTE,
    OutgoingMessage,
    message_size,
    pubsub_problem,
)
from bridge.wrapped import WRAPPED_ATTRIBUTE, is_wrapped, unwrap
from bridge.wrapped import wrap as wrap_message

BRIDGE_PREFIX = "bridge_"
DEAD_LETTER_PREFIX = "CloudPubSubDeadLetterSource"
DEAD_LETTERED = "dead_lettered"  # the reason shown for dead-lettered messages
LEASE_S = MAX_ACK_DEADLINE_S  # held while we list and republish
DEFAULT_MAX_MESSAGES = REPLAY_MAX_MESSAGES
REJECTED = "enqueue-requests-rejected-operator"  # the operator subscriptions terraform/ creates
DEAD_LETTER = "enqueue-requests-dead-letter-operator"
REASONS = (*(reason.value for reason in Reason), DEAD_LETTERED)  # what --reason accepts


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
    if is_wrapped(outer):
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
    # The first that is a message id (the bridge accepts no other): a replay of a replay keeps
    # the first origin; a rejection names its original; else the pulled message's own id.
    origin = next(
        (
            candidate
            for candidate in (
                original.get(ORIGIN_ATTRIBUTE),
                outer.get(ORIGIN_ATTRIBUTE),
                outer.get(MESSAGE_ID_ATTRIBUTE),
            )
            if candidate and ORIGIN_FORMAT.fullmatch(candidate)
        ),
        pulled.message_id,
    )
    attributes = {
        key: value
        for key, value in original.items()
        if not key.startswith((BRIDGE_PREFIX, DEAD_LETTER_PREFIX))
    }
    attributes[ORIGIN_ATTRIBUTE] = origin
    inner = OutgoingMessage(data=data, attributes=attributes)
    if problem is None and DATA_BYTES_ATTRIBUTE in outer:
        problem = (
            f"cannot republish: the rejection keeps only the first {len(data)} of "
            f"{outer[DATA_BYTES_ATTRIBUTE]} bytes (too large for one Pub/Sub request; "
            f"{DATA_SHA256_ATTRIBUTE}={outer.get(DATA_SHA256_ATTRIBUTE, '?')})"
        )
    replay = replay_message(inner)
    if problem is None:
        problem = _does_not_fit(replay) or _rejected_again(inner, origin, max_body_bytes)
    return Candidate(
        pulled=pulled,
        reason=reason,
        error=error,
        origin_message_id=origin,
        service=_service_of(inner),
        replay=None if problem and problem.startswith("cannot") else replay,
        problem=problem,
    )


def replay_message(message: OutgoingMessage) -> OutgoingMessage:
    """``message`` as it can be published: as is, or, when its attributes cannot all be
    attributes (``MAX_ATTRIBUTES`` already, or too long), wrapped in the data with
    ``bridge_wrapped=true``, which the bridge unwraps on arrival."""
    if pubsub_problem(message) is None:
        return message
    return OutgoingMessage(
        data=wrap_message(message.data, message.attributes), attributes={WRAPPED_ATTRIBUTE: "true"}
    )


def _does_not_fit(message: OutgoingMessage) -> str | None:
    size = message_size(message)
    if size > MAX_MESSAGE_BYTES:
        return (
            f"cannot republish: {size} bytes with its attributes, over one Pub/Sub request "
            f"({MAX_REQUEST_BYTES} bytes with the topic)"
        )
    return None


def _rejected_again(message: OutgoingMessage, origin: str, max_body_bytes: int) -> str | None:
    """The bridge's own check, as the function will run it (service names excepted)."""
    as_received = PubsubMessage(
        message_id=origin, data=message.data, attributes=message.attributes, publish_time=None
    )
    try:
        envelope = envelope_of(as_received)
        if (exact := exact_payload_of(as_received)) is not None:
            exact_body(exact, max_body_bytes=max_body_bytes)
        else:
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


# -- the run ------------------------------------------------------------------------------


@dataclass
class ReplayReport:
    seen: list[Candidate]
    chosen: list[Candidate]
    republished: dict[str, str]  # pulled message id -> new message id
    skipped: list[Candidate]  # chosen, not republished (a problem, and no --force)
    # Another rejection of the same delivery (same bridge_message_id, e.g. a publish that timed
    # out and still went through): pulled message id -> the one replayed in its place.
    duplicates: dict[str, str] = field(default_factory=dict)


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
            pulled = subscription.pull(min(REPLAY_PULL_MESSAGES, max_messages - len(seen)))
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
    copies = duplicate_rejections(seen)
    duplicates = {c.pulled.message_id: first for first, cs in copies.items() for c in cs}
    choosing = select_all or bool(reasons) or bool(message_ids)
    chosen = [
        c
        for c in seen
        if choosing
        and c.pulled.message_id not in duplicates
        and any(
            one.matches(reasons=reasons, message_ids=message_ids)
            for one in (c, *copies.get(c.pulled.message_id, ()))
        )
    ]
    sendable = [c for c in chosen if c.replay is not None and (force or not c.problem)]
    skipped = [c for c in chosen if c not in sendable]
    republished: dict[str, str] = {}
    acked: set[str] = set()
    try:
        if not dry_run:
            for batch in _batches_of(sendable, topic_path=topic_path):
                new_ids = transport.send(topic_path, [c.replay for c in batch if c.replay])
                # Acknowledge right after each request, with the copies of each: a failure
                # later keeps these done, and a copy is never replayed a second time.
                done = [one for c in batch for one in (c, *copies.get(c.pulled.message_id, ()))]
                subscription.ack([one.pulled.ack_id for one in done])
                acked |= {one.pulled.message_id for one in done}
                for candidate, new_id in zip(batch, new_ids, strict=True):
                    republished[candidate.pulled.message_id] = new_id
    except PublishFailed as e:
        raise PublishFailed(
            f"{e}; {len(republished)} message(s) were republished and acknowledged before this "
            "failure, the others were released untouched: run the same replay again",
            published=len(republished),
        ) from e
    finally:
        subscription.release([c.pulled.ack_id for c in seen if c.pulled.message_id not in acked])
    return ReplayReport(
        seen=seen,
        chosen=chosen,
        republished=republished,
        skipped=skipped,
        duplicates=duplicates,
    )


def duplicate_rejections(seen: Sequence[Candidate]) -> dict[str, list[Candidate]]:
    """Rejections of one delivery (same ``bridge_message_id``): the first's pulled id -> the
    others.

    The bridge publishes one rejection per delivery, but a publish that timed out can still go
    through from the client's background retry while the redelivery publishes another.
    """
    first: dict[str, str] = {}
    copies: dict[str, list[Candidate]] = {}
    for candidate in seen:
        attributes = candidate.pulled.attributes
        key = attributes.get(MESSAGE_ID_ATTRIBUTE) if REASON_ATTRIBUTE in attributes else None
        if not key:
            continue
        if key in first:
            copies.setdefault(first[key], []).append(candidate)
        else:
            first[key] = candidate.pulled.message_id
    return copies


def _batches_of(candidates: Sequence[Candidate], *, topic_path: str) -> list[list[Candidate]]:
    by_message = {id(c.replay): c for c in candidates}
    messages = [c.replay for c in candidates if c.replay is not None]
    return [
        [by_message[id(m)] for m in batch] for batch in batches(messages, topic_path=topic_path)
    ]


# -- the command ----------------------------------------------------------------------------


def add_parser(commands: Any) -> None:
    """The ``replay`` subcommand."""
    parser = commands.add_parser(
        "replay",
        help="list rejected / dead-lettered messages, republish chosen ones",
        description=wrap(
            "Read a rejected-messages or dead-letter subscription and show each "
            "message with its reason. With --all, --reason or --message-id, republish the "
            "chosen ones to enqueue-requests (as the original: same task name) and acknowledge "
            "exactly those; everything else is released untouched."
        ),
        epilog="examples:\n"
        f"  bridge replay --subscription {REJECTED}    # list only\n"
        f"  bridge replay --subscription {REJECTED} --reason unknown_service --dry-run\n"
        f"  bridge replay --subscription {REJECTED} --reason unknown_service\n"
        f"  bridge replay --subscription {DEAD_LETTER} --message-id 1234567\n"
        f"  bridge replay --subscription {DEAD_LETTER} --all\n"
        "(the same names in the local stack, project local-bridge)\n\n" + exit_codes_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    add_where(parser)
    parser.set_defaults(run=run_replay)


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


def run_replay(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
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
    if report.duplicates:
        summary += (
            f"; {len(report.duplicates)} duplicate rejection(s) of a delivery already listed "
            "(same bridge_message_id): each delivery is replayed once"
        )
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
    if pulled.message_id in report.duplicates:
        primary = report.duplicates[pulled.message_id]
        done = "acknowledged with it" if primary in report.republished else "replayed once, with it"
        parts.append(f"-> duplicate rejection of {primary} (same bridge_message_id): {done}")
    elif pulled.message_id in report.republished:
        parts.append(f"-> republished as {report.republished[pulled.message_id]}")
    elif candidate in report.skipped:
        parts.append(f"-> not republished: {candidate.problem}")
    elif dry_run and candidate in report.chosen:
        parts.append("-> would republish")
    elif candidate.problem:
        parts.append(f"(note: {candidate.problem})")
    return "  ".join(parts)
