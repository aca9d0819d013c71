"""``bridge publish``: one envelope, or many from a JSON Lines file, checked before any is sent.

Results go to stdout (message ids, JSON lines); progress and summaries to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from bridge.cli.exits import EXIT_FAILED, EXIT_INVALID, EXIT_OK, EXIT_USAGE, UserError
from bridge.cli.options import add_where, exit_codes_text, wrap
from bridge.config import SERVICE_NAME
from bridge.limits import MAX_DEADLINE_S, MAX_REQUEST_MESSAGES, MIN_DEADLINE_S
from bridge.publishing.publisher import (
    DEFAULT_TOPIC,
    InvalidEnvelope,
    Publisher,
    PublishFailed,
    PubsubTransport,
    batches,
    build_envelope,
    checked_traceparent,
    envelope_message,
    parse_row,
    topic_path_for,
)
from bridge.trace import TRACEPARENT

MAX_ERRORS_SHOWN = 20
NEW_TRACE = "<a new one at publish>"  # what --dry-run --trace shows as the traceparent


def add_parser(commands: Any) -> None:
    """The ``publish`` subcommand."""
    parser = commands.add_parser(
        "publish",
        help="publish one envelope, or many from a JSON Lines file",
        description=wrap(
            "Publish to enqueue-requests. Every envelope is checked with the bridge's "
            "own model first: if any is invalid, nothing is sent."
        ),
        epilog="examples:\n"
        '  bridge publish --service brain --payload \'{"case_id": "C-1"}\' --key case-C-1\n'
        "  bridge publish --service regresos --payload @job.json --delay-s 60\n"
        "  bridge publish --file rows.jsonl        # one envelope per line:\n"
        '      {"service": "brain", "payload": {...}, "idempotency_key": "...", "delay_s": 0}\n'
        "  bridge publish --file rows.jsonl --dry-run\n"
        "  bridge publish --service brain --payload '{}' --trace\n\n"
        "stdout: the message id (one envelope), or one JSON line per row\n"
        '  {"line": N, "message_id": "..."} (--file); with --trace, the traceparent too:\n'
        '  "ID TRACEPARENT", or a "traceparent" field.\n\n' + exit_codes_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    one = parser.add_argument_group("one envelope")
    one.add_argument("--service", metavar="S", help="the worker service, e.g. brain")
    parser.add_argument(
        "--services",
        metavar="LIST",
        help="the configured services, to refuse an unknown one before sending: the function's "
        "BRIDGE_SERVICES (name:SUFFIX,...) or plain names (brain,regresos); default "
        "$BRIDGE_SERVICES; without either, service names are not checked (a note says so)",
    )
    one.add_argument(
        "--payload",
        metavar="JSON",
        help="the payload: a JSON object, @file.json to read it from a file, @- from stdin",
    )
    one.add_argument("--delay-s", type=int, metavar="N", default=0, help="run in N seconds")
    one.add_argument("--key", metavar="K", help="idempotency key: the same key is one task")
    one.add_argument(
        "--traceparent",
        metavar="TP",
        help="attach this W3C traceparent (say, your current span's); implies --trace",
    )
    one.add_argument(
        "--deadline-s",
        type=int,
        metavar="N",
        help=f"the worker's deadline, {MIN_DEADLINE_S}..{MAX_DEADLINE_S} s",
    )
    many = parser.add_argument_group("many envelopes")
    many.add_argument(
        "--file",
        metavar="ROWS.jsonl",
        help="one envelope JSON object per line ('-' for stdin); blank lines are skipped",
    )
    many.add_argument(
        "--skip",
        type=int,
        default=0,
        metavar="N",
        help="skip the first N envelopes (to resume after a failure)",
    )
    parser.add_argument(
        "--topic",
        default=DEFAULT_TOPIC,
        help=f"topic id or projects/P/topics/T (default {DEFAULT_TOPIC})",
    )
    add_where(parser)
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check and print what would be published (JSON lines), send nothing",
    )
    parser.add_argument(
        "--trace",
        action="store_true",
        help="attach a new W3C traceparent to each message and print it beside the message id: "
        "the bridge forwards it to the worker and logs its trace id, so Cloud Logging shows the "
        "request as one trace",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress or summary")
    parser.set_defaults(run=run_publish)


def run_publish(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    single = args.service is not None or args.payload is not None
    if single == (args.file is not None):
        raise UserError("give either --service and --payload, or --file (not both)", EXIT_USAGE)
    if single and (args.service is None or args.payload is None):
        raise UserError("--service and --payload go together", EXIT_USAGE)
    if args.file is not None and (args.key or args.delay_s or args.deadline_s is not None):
        raise UserError(
            "--key, --delay-s and --deadline-s are for one envelope; with --file each line "
            "carries its own idempotency_key, delay_s, deadline_s",
            EXIT_USAGE,
        )
    if args.file is not None and args.traceparent is not None:
        raise UserError(
            "--traceparent is for one envelope; with --file, --trace gives each its own",
            EXIT_USAGE,
        )
    if args.skip < 0:
        raise UserError("--skip must be 0 or more", EXIT_USAGE)
    given_trace = None if args.traceparent is None else checked_traceparent(args.traceparent)
    traced = args.trace or given_trace is not None
    if single:
        payload = _payload_argument(args.payload)
        rows = [
            (
                0,
                build_envelope(
                    args.service,
                    payload,
                    delay_s=args.delay_s,
                    idempotency_key=args.key,
                    deadline_s=args.deadline_s,
                ),
            )
        ]
    else:
        rows = _read_rows(args.file)[args.skip :]
        if not rows:
            raise UserError(f"{args.file}: no envelopes to publish", EXIT_INVALID)
    _check_services(rows, services=args.services, quiet=args.quiet, err=err)
    topic_path = topic_path_for(args.topic, args.project)
    envelopes = [envelope for _, envelope in rows]
    if args.dry_run:
        trace = (given_trace or NEW_TRACE) if traced else None
        return _dry_run(
            rows, topic_path=topic_path, trace=trace, quiet=args.quiet, out=out, err=err
        )

    progress = Progress(total=len(envelopes), stream=err, enabled=not args.quiet)
    publisher = Publisher(topic=topic_path, transport=PubsubTransport(timeout_s=args.timeout_s))
    traces: list[str] = []
    try:
        if not traced:
            message_ids = publisher.publish_many(envelopes, on_request=progress.advance)
        else:
            if given_trace is not None:
                sent = [publisher.publish_traced(envelopes[0], traceparent=given_trace)]
            else:
                sent = publisher.publish_many_traced(envelopes, on_request=progress.advance)
            message_ids = [p.message_id for p in sent]
            traces = [p.traceparent for p in sent]
    except PublishFailed as e:
        progress.close()
        if single or not e.published:
            raise
        last_line = rows[e.published - 1][0]
        raise UserError(
            f"{e}\npublished {e.published} of {len(rows)} envelopes (through line {last_line}); "
            f"rerun with --skip {args.skip + e.published} to send the rest",
            EXIT_FAILED,
        ) from e
    progress.close()
    if single:
        print(" ".join([message_ids[0], *traces]), file=out)
    else:
        for index, ((line, _), message_id) in enumerate(zip(rows, message_ids, strict=True)):
            record = {"line": line, "message_id": message_id}
            if traces:
                record["traceparent"] = traces[index]
            print(json.dumps(record), file=out)
    if not args.quiet:
        print(f"published {len(message_ids)} to {topic_path}", file=err)
    return EXIT_OK


def known_services(value: str | None) -> list[str] | None:
    """The service names in ``--services`` / ``$BRIDGE_SERVICES`` (``name:SUFFIX`` or ``name``
    items), or None when neither is given."""
    value = value if value is not None else os.environ.get("BRIDGE_SERVICES")
    if value is None or not value.strip():
        return None
    names = [item.strip().split(":", 1)[0].strip() for item in value.split(",")]
    if bad := [name for name in names if not SERVICE_NAME.fullmatch(name)]:
        raise UserError(
            f"--services / BRIDGE_SERVICES: {bad[0]!r} is not a service name (like brain)",
            EXIT_USAGE,
        )
    return names


def _check_services(
    rows: Sequence[tuple[int, Any]], *, services: str | None, quiet: bool, err: IO[str]
) -> None:
    known = known_services(services)
    if known is None:
        if not quiet:
            print(
                "bridge publish: note: service names were not checked (the deployed services "
                "are unknown here: pass --services or set BRIDGE_SERVICES)",
                file=err,
            )
        return
    unknown = [(line, envelope.service) for line, envelope in rows if envelope.service not in known]
    if not unknown:
        return
    listed = ", ".join(sorted(known))
    shown = [
        (f"line {line}: " if line else "")
        + f"service: unknown service {service!r}; known services: {listed} [unknown_service]"
        for line, service in unknown[:MAX_ERRORS_SHOWN]
    ]
    if len(unknown) > len(shown):
        shown.append(f"... and {len(unknown) - len(shown)} more")
    shown.append("nothing was published")
    raise UserError("\n".join(shown), EXIT_INVALID)


def _payload_argument(value: str) -> Any:
    if value.startswith("@"):
        source = value[1:]
        text = _read_text(source, what="--payload")
    else:
        source, text = "--payload", value
    try:
        return json.loads(text)
    except ValueError as e:
        raise UserError(f"{source}: the payload is not valid JSON: {e}", EXIT_INVALID) from e


def _read_bytes(source: str, *, what: str) -> bytes:
    try:
        if source == "-":
            return sys.stdin.buffer.read() if sys.stdin is not None else b""
        return Path(source).read_bytes()
    except OSError as e:
        raise UserError(f"{what}: cannot read {source}: {e.strerror or e}", EXIT_INVALID) from e


def _read_text(source: str, *, what: str) -> str:
    try:
        return _read_bytes(source, what=what).decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UserError(f"{source}: not UTF-8 text (byte {e.start})", EXIT_INVALID) from e


def _read_rows(source: str) -> list[tuple[int, Any]]:
    """Every envelope of a JSON Lines file, checked; all the bad lines reported at once."""
    raw = _read_bytes(source, what="--file").removeprefix(b"\xef\xbb\xbf")
    rows: list[tuple[int, Any]] = []
    problems: list[str] = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, parse_row(line.rstrip(b"\r"), where=f"line {number}")))
        except InvalidEnvelope as e:
            problems.append(f"{source}: {e} [{e.reason.value}]")
    if problems:
        shown = problems[:MAX_ERRORS_SHOWN]
        if len(problems) > len(shown):
            shown.append(f"... and {len(problems) - len(shown)} more invalid lines")
        shown.append(f"{len(problems)} invalid envelopes: nothing was published")
        raise UserError("\n".join(shown), EXIT_INVALID)
    return rows


def _dry_run(
    rows: Sequence[tuple[int, Any]],
    *,
    topic_path: str,
    trace: str | None,
    quiet: bool,
    out: IO[str],
    err: IO[str],
) -> int:
    """``trace``: the traceparent each message would carry (``NEW_TRACE``: a new one each)."""
    messages = [envelope_message(envelope) for _, envelope in rows]
    for (line, _), message in zip(rows, messages, strict=True):
        record: dict[str, Any] = {"topic": topic_path}
        if line:
            record["line"] = line
        record["data"] = json.loads(message.data)
        record["attributes"] = dict(message.attributes)
        if trace is not None:
            record["attributes"][TRACEPARENT] = trace
        record["bytes"] = len(message.data)
        print(json.dumps(record, ensure_ascii=False), file=out)
    requests = sum(1 for _ in batches(messages, topic_path=topic_path))
    if not quiet:
        print(
            f"dry run: {len(messages)} envelopes valid, would be published to {topic_path} "
            f"in {requests} request(s); nothing was sent",
            file=err,
        )
    return EXIT_OK


class Progress:
    """A one-line progress bar on stderr, only on a terminal and only for more than one request."""

    WIDTH = 30

    def __init__(self, *, total: int, stream: IO[str], enabled: bool) -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self.enabled = enabled and total > MAX_REQUEST_MESSAGES and _isatty(stream)

    def advance(self, count: int) -> None:
        self.done += count
        if self.enabled:
            filled = self.WIDTH * self.done // max(self.total, 1)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            self.stream.write(f"\r[{bar}] {self.done}/{self.total} published")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.done:
            self.stream.write("\n")
            self.stream.flush()


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
