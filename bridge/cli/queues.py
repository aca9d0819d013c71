"""``bridge queues``: per configured service, its queue's state, rate and retry settings, and how
many tasks it holds (a bounded ListTasks scan that says when it stopped counting).

A configured queue that does not exist is listed as ``MISSING`` (its messages are being retried
into the dead-letter topic) and the command exits 3; the other queues are still read.
"""

from __future__ import annotations

import argparse
import json
from typing import IO, Any

from bridge.cli.exits import EXIT_OK, EXIT_USAGE, UserError
from bridge.cli.options import add_where, wrap
from bridge.cli.status import settings_from_environment
from bridge.cli.tasks_reader import TasksReader
from bridge.cli.tasks_view import describe_queue, no_queue_meaning
from bridge.limits import QUEUES_MAX_COUNT

DEFAULT_MAX_COUNT = QUEUES_MAX_COUNT
MISSING = "MISSING"  # a configured queue that does not exist (not one of Queue.State's names)
EXIT_MISSING = 3  # as bridge status: no record (here, of a queue)


def queue_report(reader: TasksReader, queue: str, *, max_count: int) -> dict[str, Any]:
    found = reader.queue(queue)
    if found is None:
        return {"queue": queue, "state": MISSING, "detail": no_queue_meaning(queue)}
    report = describe_queue(found)
    count, stopped = reader.count_tasks(queue, max_count=max_count)
    report.update(tasks=count, counting_stopped=stopped)
    return report


def run_queues(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    if args.max_count < 1:
        raise UserError("--max-count must be 1 or more", EXIT_USAGE)
    settings = settings_from_environment()
    reader = TasksReader.for_settings(settings, timeout_s=args.timeout_s)
    reports = {
        service: queue_report(reader, route.queue_path, max_count=args.max_count)
        for service, route in settings.routes.items()
    }
    code = EXIT_MISSING if any(r["state"] == MISSING for r in reports.values()) else EXIT_OK
    if args.json:
        print(json.dumps(reports, ensure_ascii=False, indent=2), file=out)
        return code
    rows = [
        _table_row(service, report, max_count=args.max_count) for service, report in reports.items()
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    # every route's queue is in the function's PROJECT_ID and TASKS_REGION: said once
    parents = sorted({r["queue"].rsplit("/queues/", 1)[0] for r in reports.values()})
    print(f"queues in {', '.join(parents)}", file=out)
    for service, queue, rest in rows:
        print(f"{service:<{widths[0]}}  {queue:<{widths[1]}}  {rest}", file=out)
    return code


def _table_row(service: str, report: dict[str, Any], *, max_count: int) -> tuple[str, str, str]:
    """(service, queue id, the rest): the table aligns the first two columns."""
    queue = report["queue"].rsplit("/", 1)[-1]
    if report["state"] == MISSING:
        return service, queue, f"{MISSING}: {report['detail']}"
    count = f"{report['tasks']}"
    if report["counting_stopped"]:
        count = f"at least {count} (stopped counting at --max-count {max_count})"
    return (
        service,
        queue,
        f"{report['state']}  tasks={count}  "
        f"rate={report['max_dispatches_per_second']:g}/s burst={report['max_burst_size']} "
        f"concurrent={report['max_concurrent_dispatches']}  "
        f"attempts={report['max_attempts']} backoff={report['min_backoff_s']:g}-"
        f"{report['max_backoff_s']:g} s doublings={report['max_doublings']}",
    )


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "queues",
        help="each service's queue: state, rate and retry settings, tasks held",
        description=wrap(
            "For every service the function's variables configure (QUEUE_<S>, ...): the "
            "queue's state, rate limits, retry policy and how many tasks it holds (a bounded "
            "scan). Honours CLOUD_TASKS_EMULATOR_HOST."
        ),
        epilog=f"exit codes:\n  0    every queue read\n  {EXIT_MISSING}    a configured queue "
        "does not exist (listed as MISSING)\n  other: as in `bridge --help`",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--max-count",
        type=int,
        default=DEFAULT_MAX_COUNT,
        metavar="N",
        help=f"stop counting a queue's tasks after N (default {DEFAULT_MAX_COUNT})",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object, for scripts")
    add_where(parser)
    parser.set_defaults(run=run_queues)
