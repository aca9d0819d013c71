"""tasks_emulator's console in Debian's Chromium: how fast a queue of 10,000 pending tasks opens,
and whether a page left open slows dispatch. Figures, never pass/fail.

Run: .venv/bin/python -m benchmarks.console [--tasks 10000] [--runs 7] [--dispatch 2000]
(``make bench-console``; ``make browser`` installs Chromium).

One emulator (in memory) with a queue of ``--tasks`` pending tasks (~2 KB, an hour ahead) and an
empty queue. Each run opens a new tab and times from ``goto`` to the 50th row of the first page
drawn (the page's script has fetched ``/console/api/queue`` and built the table):

- ours: the 10,000-task queue's first page, and its last page (offset 9,950);
- floor, in the same runs, alternating: the same console page of an empty queue (the page's own
  cost: HTML, script, one fetch), and a static 50-row table (``set_content``: the browser alone).

Then the endpoint alone (``GET /console/api/queue``, urllib, the same 10,000 tasks), and
dispatch: ``--dispatch`` due tasks to an instant worker (rate limits at production's maximum),
alternating with no page open and with the console's page of the 10,000-task queue open and
polling every second; tasks/s and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import BrowserContext

from benchmarks.emulator import Target, Worker, create_tasks, dispatch_rate
from benchmarks.stats import summary
from bridge.stack import procs
from bridge.stack.emulator import start_tasks_emulator
from tests.console.browser import chromium

ROWS = 50  # the console's page size
TARGET_S = 1.0
STATIC_TABLE = (
    "<!doctype html><table><tbody>"
    + "".join(f"<tr><td>task-{i}</td><td>in 1 h</td><td>0 / 0</td></tr>" for i in range(ROWS))
    + "</tbody></table>"
)


def _start(log_dir: Path) -> tuple[Target, str]:
    started = start_tasks_emulator("console-bench", log_path=log_dir / "emulator.log")
    return Target(name="console", proc=started.proc, address=started.grpc_target), started.http_url


def _queue_url(http_url: str, queue: str, offset: int = 0) -> str:
    query = f"?offset={offset}" if offset else ""
    return f"{http_url}/console/#/queue/{urllib.parse.quote(queue, safe='')}{query}"


def _open_s(context: BrowserContext, url: str) -> float:
    """Seconds from a new tab's ``goto`` to the 50th row (or the empty-queue note) drawn."""
    page = context.new_page()
    try:
        started = time.perf_counter()
        page.goto(url)
        page.wait_for_selector(f"#tasks tbody tr:nth-child({ROWS}), #main .empty", timeout=30_000)
        return time.perf_counter() - started
    finally:
        page.close()


def _static_s(context: BrowserContext) -> float:
    page = context.new_page()
    try:
        started = time.perf_counter()
        page.set_content(STATIC_TABLE)
        page.wait_for_selector(f"tbody tr:nth-child({ROWS})")
        return time.perf_counter() - started
    finally:
        page.close()


def _fmt_ms(values: list[float]) -> str:
    median, low, high = summary([v * 1000 for v in values])
    return f"{median:7.1f} ms [{low:.1f}-{high:.1f}]"


def _endpoint_s(http_url: str, queue: str) -> float:
    url = f"{http_url}/console/api/queue?name={urllib.parse.quote(queue, safe='')}&state=pending"
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 - loopback
        answer.read()
    return time.perf_counter() - started


def _with_page_open(context: BrowserContext, url: str, run: Callable[[], float]) -> float:
    page = context.new_page()
    try:
        page.goto(url)
        page.wait_for_selector(f"#tasks tbody tr:nth-child({ROWS})", timeout=30_000)
        return run()
    finally:
        page.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.console")
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--dispatch", type=int, default=2000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        target, http_url = _start(Path(tmp))
        worker = Worker()
        try:
            big = target.new_queue("big", paused=True)
            empty = target.new_queue("empty", paused=True)
            hour_ahead_s = time.time() + 3600
            made_s = create_tasks(
                target, big, args.tasks, url=worker.url, schedule=lambda i: hour_ahead_s + i
            )
            print(f"{args.tasks} pending tasks created in {made_s:.1f} s; {args.runs} runs each")
            first, last, empty_page, static = [], [], [], []
            with chromium() as context:
                _open_s(context, _queue_url(http_url, empty))  # warm the browser's cache
                for _ in range(args.runs):
                    static.append(_static_s(context))
                    empty_page.append(_open_s(context, _queue_url(http_url, empty)))
                    first.append(_open_s(context, _queue_url(http_url, big)))
                    last.append(_open_s(context, _queue_url(http_url, big, args.tasks - ROWS)))
                endpoint = [_endpoint_s(http_url, big) for _ in range(args.runs)]
                print(f"queue page, {args.tasks} pending, first page   {_fmt_ms(first)}")
                print(f"queue page, {args.tasks} pending, last page    {_fmt_ms(last)}")
                print(f"floor: the same page, empty queue     {_fmt_ms(empty_page)}")
                print(f"floor: a static {ROWS}-row table            {_fmt_ms(static)}")
                print(f"GET /console/api/queue alone          {_fmt_ms(endpoint)}")
                ratio = statistics.median(first) / statistics.median(empty_page)
                verdict = "under" if max(first + last) < TARGET_S else "NOT under"
                print(
                    f"first page / empty-queue page: {ratio:.2f}x; slowest open "
                    f"{max(first + last) * 1000:.0f} ms: {verdict} the {TARGET_S:g} s target"
                )
                closed, opened = [], []
                page_url = _queue_url(http_url, big)
                for _ in range(max(3, args.runs // 2)):
                    closed.append(dispatch_rate(target, worker, args.dispatch))
                    opened.append(
                        _with_page_open(
                            context,
                            page_url,
                            lambda: dispatch_rate(target, worker, args.dispatch),
                        )
                    )
            c_med, c_low, c_high = summary(closed)
            o_med, o_low, o_high = summary(opened)
            print(
                f"dispatch, {args.dispatch} tasks: no page {c_med:.0f} tasks/s [{c_low:.0f}-"
                f"{c_high:.0f}], the {args.tasks}-task queue's page open {o_med:.0f} tasks/s "
                f"[{o_low:.0f}-{o_high:.0f}]: {o_med / c_med:.2f}x"
            )
        finally:
            worker.close()
            procs.stop(target.proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
