"""``bridge status``: where is the request for this key? One GetTask (named by the bridge's own
naming code), and on request a look through the operator subscriptions, without consuming.

Exit codes (the command's own, for scripts): 0 the task is pending or recently done, 3 Cloud
Tasks has no record of it (or its queue, or the service, does not exist), 4 it is in the
rejected or dead-letter subscription; the CLI's table for the rest (2 usage, 5 permission
denied, 6 Cloud Tasks or Pub/Sub failed).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from bridge.cli.exits import EXIT_FAILED, EXIT_USAGE, UserError
from bridge.cli.options import add_where, positive_float, wrap
from bridge.cli.replay import DEAD_LETTER, REJECTED, Candidate, collect
from bridge.cli.subscription import PubsubSubscription, Subscription
from bridge.cli.tasks_reader import TasksReader, queue_of
from bridge.cli.tasks_view import (
    NEVER,
    NEVER_MEANING,
    NO_QUEUE,
    RECENT_MEANING,
    RECENTLY,
    UNCONFIGURED,
    describe_task,
    no_queue_meaning,
    unconfigured_meaning,
)
from bridge.config import Settings, load_settings
from bridge.errors import ConfigError, PermanentError
from bridge.limits import STATUS_MAX_SCAN
from bridge.message import SERVICE_ATTRIBUTE
from bridge.naming import KeyKind, task_id_for, task_name_for
from bridge.plan import route_for
from bridge.publishing.publisher import PublishError, resource_path
from bridge.wrapped import is_wrapped, unwrap

EXIT_FOUND = 0  # pending, or done recently
EXIT_NO_RECORD = 3  # Cloud Tasks never saw it (or forgot it)
EXIT_REJECTED = 4  # found in the rejected or dead-letter subscription
STATUS_EXIT_CODES = {
    EXIT_FOUND: "found: the task is pending, or completed / deleted recently",
    EXIT_NO_RECORD: "not found: Cloud Tasks has no record of the name (or no such queue or "
    "service)",
    EXIT_REJECTED: "rejected or dead-lettered: found in an operator subscription",
}
PLACES = {"rejected": REJECTED, "dead-letter": DEAD_LETTER}
DEFAULT_MAX_SCAN = STATUS_MAX_SCAN


@dataclass(frozen=True, slots=True)
class Found:
    """A message of an operator subscription that carries the key or message id asked about."""

    place: str
    message_id: str
    reason: str
    error: str

    def as_json(self) -> dict[str, str]:
        return {
            "in": self.place,
            "message_id": self.message_id,
            "reason": self.reason,
            "error": self.error,
        }


def task_name_of(
    settings: Settings, *, service: str, key: str | None, message_id: str | None
) -> str:
    """The task the bridge names for (service, key) or (service, message id): its own code."""
    route = route_for(settings, service)
    kind, value = (
        (KeyKind.IDEMPOTENCY_KEY, key) if key is not None else (KeyKind.MESSAGE_ID, message_id)
    )
    if value is None:
        raise ValueError("task_name_of: give key or message_id")
    task_id = task_id_for(service=route.service, kind=kind, value=value)
    return task_name_for(queue_path=route.queue_path, task_id=task_id)


def carries(
    candidate: Candidate, *, service: str | None, key: str | None, ids: Sequence[str]
) -> bool:
    """Whether a pulled message is the one asked about: by message id, else by (service, key)."""
    if ids and candidate.matches(reasons=(), message_ids=ids):
        return True
    if key is None:
        return False
    pulled = candidate.pulled
    data, attributes = pulled.data, dict(pulled.attributes)
    if is_wrapped(attributes):
        try:
            data, attributes = unwrap(data)
        except ValueError:
            return False
    found_key, found_service = _key_and_service(data, attributes)
    return found_key == key and (service is None or found_service == service)


def _key_and_service(data: bytes, attributes: Mapping[str, str]) -> tuple[str | None, str | None]:
    """Read leniently: a rejected message is, by definition, not always a valid envelope."""
    if SERVICE_ATTRIBUTE in attributes:
        return attributes.get("idempotency_key"), attributes[SERVICE_ATTRIBUTE]
    try:
        body = json.loads(data)
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    key, service = body.get("idempotency_key"), body.get("service")
    return (key if isinstance(key, str) else None), (service if isinstance(service, str) else None)


def look_in(
    subscriptions: Mapping[str, Subscription],
    *,
    service: str | None,
    key: str | None,
    ids: Sequence[str],
    max_messages: int,
) -> tuple[list[Found], list[str]]:
    """The matching messages of each subscription, and notes (a scan that stopped at the cap).

    Every message pulled is released at once (modifyAckDeadline 0): nothing is consumed, so
    ``bridge replay`` finds them all afterwards.
    """
    found: list[Found] = []
    notes: list[str] = []
    for place, subscription in subscriptions.items():
        candidates = collect(subscription, max_messages=max_messages)
        try:
            found += [
                Found(place, c.pulled.message_id, c.reason, c.error)
                for c in candidates
                if carries(c, service=service, key=key, ids=ids)
            ]
        finally:
            if candidates:
                subscription.release([c.pulled.ack_id for c in candidates])
        if len(candidates) >= max_messages:
            notes.append(f"{place}: stopped after {max_messages} messages (--max-scan)")
    return found, notes


def settings_from_environment() -> Settings:
    try:
        return load_settings(os.environ)
    except ConfigError as e:
        raise UserError(
            f"the function's variables are needed to name tasks (PROJECT_ID, TASKS_REGION, "
            f"QUEUE_<S>, ...): {e}",
            EXIT_USAGE,
        ) from e


def task_report(
    settings: Settings, name: str, *, show_body: bool, timeout_s: float
) -> dict[str, Any]:
    """What GetTask says about ``name``: its fields, or why it is not found."""
    reader = TasksReader.for_settings(settings, timeout_s=timeout_s)
    task, gone = reader.task(name, full=show_body)
    if task is None:
        if gone == NO_QUEUE:
            detail = no_queue_meaning(queue_of(name))
        else:
            detail = RECENT_MEANING if gone == RECENTLY else NEVER_MEANING
        return {"found": False, "not_found": gone, "detail": detail}
    paused = reader.queue_state(queue_of(name))
    view = describe_task(task, queue_state=paused, now=datetime.now(UTC))
    report: dict[str, Any] = {**view.fields, "found": True}
    if show_body:
        report["body"] = bytes(task.http_request.body).decode("utf-8", "replace")
    return report


def run_status(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    if args.task is None and args.service is None:
        raise UserError("--service is needed with --key or --message-id", EXIT_USAGE)
    if args.task is None and (args.key is None) == (args.message_id is None):
        raise UserError("give one of --key and --message-id (or --task NAME)", EXIT_USAGE)
    if args.look_in and args.key is None and args.message_id is None:
        raise UserError("--look-in searches by --key or --message-id: give one", EXIT_USAGE)
    if args.max_scan < 1:
        raise UserError("--max-scan must be 1 or more", EXIT_USAGE)
    settings = settings_from_environment()
    name: str | None = args.task
    if name is None:
        try:
            name = task_name_of(
                settings, service=args.service, key=args.key, message_id=args.message_id
            )
        except PermanentError as e:
            if not args.look_in:
                raise UserError(
                    f"{e.detail} (a message for it was rejected as unknown_service: "
                    "--look-in rejected finds it)",
                    EXIT_USAGE,
                ) from e
            # unconfigured: no task can exist, but its rejected messages may; name stays None
    report: dict[str, Any] = {"task": name}
    if name is None:
        detail = unconfigured_meaning(args.service)
        report.update(found=False, not_found=UNCONFIGURED, detail=detail)
    else:
        report.update(
            task_report(settings, name, show_body=args.show_body, timeout_s=args.timeout_s)
        )
    done_recently = report.get("not_found") == RECENTLY
    code = EXIT_FOUND if report["found"] or done_recently else EXIT_NO_RECORD
    if args.look_in:
        names = {
            "rejected": args.rejected_subscription,
            "dead-letter": args.dead_letter_subscription,
        }
        project = args.project or settings.project_id
        subscriptions: dict[str, Subscription] = {
            place: PubsubSubscription(
                resource_path(names[place], project, kind="subscriptions"),
                timeout_s=args.timeout_s,
                wait_s=args.wait_s,
            )
            for place in args.look_in
        }
        ids = [args.message_id] if args.message_id else []
        try:
            found, notes = look_in(
                subscriptions,
                service=args.service,
                key=args.key,
                ids=ids,
                max_messages=args.max_scan,
            )
        except PublishError as e:
            raise UserError(str(e), EXIT_FAILED) from e
        report["look_in"] = {
            "searched": list(args.look_in),
            "found": [f.as_json() for f in found],
            "notes": notes,
        }
        if found:
            code = EXIT_REJECTED
    report["exit_code"] = code
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2), file=out)
    else:
        _print_table(report, out)
    return code


def _print_table(report: Mapping[str, Any], out: IO[str]) -> None:
    rows = [("task", report["task"] or "-")]
    if report.get("found"):
        rows += [
            ("queue", report["queue"]),
            ("state", report["detail"]),
            ("worker", report["url"]),
            ("audience", report["audience"]),
            ("identity", report["identity"] or "-"),
            ("deadline", f"{report['deadline_s']} s" if report["deadline_s"] else "-"),
        ]
        if "body" in report:
            rows.append(("body", report["body"]))
    else:
        kind = {
            NEVER: "never seen",
            RECENTLY: "existed recently",
            NO_QUEUE: "no such queue",
            UNCONFIGURED: "no such service",
        }[report["not_found"]]
        rows += [("state", f"not found ({kind})"), ("meaning", report["detail"])]
    searched = report.get("look_in")
    if searched:
        for found in searched["found"]:
            rows.append((found["in"], f"{found['message_id']} {found['reason']}: {found['error']}"))
        if not searched["found"]:
            rows.append(("look-in", f"nothing in {', '.join(searched['searched'])}"))
        rows += [("note", note) for note in searched["notes"]]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}", file=out)


def look_in_places(text: str) -> list[str]:
    """argparse type: ``rejected``, ``dead-letter`` or both, comma-separated."""
    places = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [p for p in places if p not in PLACES]
    if unknown or not places:
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(PLACES)}")
    return places


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "status",
        help="where is the request for a key: its task, or why there is none",
        description=wrap(
            "Derive the task name the bridge gives a key (or an unkeyed message's id) and ask "
            "Cloud Tasks about it: queue, state, last response, worker, identity, deadline. "
            "Needs the function's variables (PROJECT_ID, TASKS_REGION, QUEUE_<S>, ...) and "
            "honours CLOUD_TASKS_EMULATOR_HOST and PUBSUB_EMULATOR_HOST."
        ),
        epilog="exit codes:\n"
        + "\n".join(f"  {c:<4} {t}" for c, t in STATUS_EXIT_CODES.items())
        + "\n  other: as in `bridge --help`",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--service", help="the service the message was for (brain, ...)")
    parser.add_argument("--key", help="the message's idempotency key")
    parser.add_argument("--message-id", help="the Pub/Sub message id of an unkeyed message")
    parser.add_argument("--task", help="a full task name instead (projects/.../tasks/ID)")
    parser.add_argument(
        "--show-body",
        action="store_true",
        help="also print the task's body (FULL view: payloads carry personal data)",
    )
    parser.add_argument(
        "--look-in",
        type=look_in_places,
        default=[],
        metavar="rejected,dead-letter",
        help="also search these operator subscriptions (pulled and released at once: nothing "
        "is consumed)",
    )
    parser.add_argument("--rejected-subscription", default=REJECTED, help=f"default {REJECTED}")
    parser.add_argument(
        "--dead-letter-subscription", default=DEAD_LETTER, help=f"default {DEAD_LETTER}"
    )
    parser.add_argument(
        "--max-scan",
        type=int,
        default=DEFAULT_MAX_SCAN,
        metavar="N",
        help=f"read at most N messages per subscription (default {DEFAULT_MAX_SCAN})",
    )
    parser.add_argument(
        "--wait-s",
        type=positive_float,
        default=1.0,
        metavar="S",
        help="stop reading a subscription after S seconds without a message",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object, for scripts")
    add_where(parser)
    parser.set_defaults(run=run_status)
