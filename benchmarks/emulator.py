"""The Cloud Tasks emulator's speed, side by side with gcloud-tasks-emulator in the same run.

Run: .venv/bin/python -m benchmarks.emulator [--tasks 2000] [--runs 3] [--pending 100000]

Three emulators run at once on loopback: ours in memory, ours with ``--data-dir`` (a fresh
temporary directory), and gcloud-tasks-emulator 0.6.2 (``.venv-gcloud-tasks``, made by
``make bench-emulator``).
One instant worker (a threaded HTTP/1.1 server in this process, answering 200 with no body) records
when each request arrived and its ``X-CloudTasks-*`` headers. Figures, never pass/fail:

- CreateTask throughput: ``--tasks`` tasks of ~2 KB (POST to the worker, an hour ahead) from 4
  client threads over one gRPC channel, ``--runs`` runs per emulator in alternation, into one
  paused queue per emulator (production accepts tasks into paused queues; and gcloud-tasks-emulator
  rescans a running queue's future tasks every 0.1 s, which would slow it down for nothing here);
  median [min-max] calls/s, and ours / gcloud's. Once with names (hashed ids, as the bridge sends
  them), once without.
- Dispatch rate with the rate limits open (500/s, production's maximum, and 1,000 concurrent): a
  paused queue gets ``--tasks`` due tasks, is resumed, and the rate is tasks / (last arrival -
  resume). The ceiling is 500/s plus the first burst (100).
- Lateness at 100 tasks/s: 1,000 tasks scheduled 10 ms apart from 3 s ahead; lateness = arrival -
  schedule_time; p50, p99, max.
- 100,000 pending tasks (``--pending``, an hour ahead, in one queue): CreateTask throughput into
  that queue and dispatch rate from it, against the same figures on the same emulator while it was
  empty (ratio); and the emulator's RSS (VmRSS from /proc) before and after.

gcloud-tasks-emulator has no rate limits and no dispatch deadline, and its dispatch loop is
unlike production's, so only CreateTask is compared with it.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport
from google.protobuf import timestamp_pb2

from benchmarks.stats import summary
from bridge.stack import procs
from bridge.stack.emulator import start_tasks_emulator
from bridge.stack.procs import MissingPrerequisite

REPO_ROOT = Path(__file__).resolve().parents[1]
GCLOUD_PYTHON = REPO_ROOT / ".venv-gcloud-tasks" / "bin" / "python"
LOOPBACK = Path(__file__).with_name("gcloud_tasks_loopback.py")
PARENT = "projects/bench-project/locations/us-central1"
THREADS = 4
BODY = b"x" * 2000  # with the URL and headers, a task of ~2 KB
LATENESS_TASKS = 1000
LATENESS_SPACING_S = 0.01  # 100 tasks/s
LATENESS_LEAD_S = 3.0


class Worker:
    """An instant HTTP worker: 200, no body; records arrival time and headers per request."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.arrivals: dict[str, list[tuple[float, float]]] = {}  # queue id -> (arrival, eta)
        worker = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                arrived_s = time.time()
                length = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(length)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                queue_id = self.headers.get("X-CloudTasks-QueueName", "?")
                eta_s = float(self.headers.get("X-CloudTasks-TaskETA", "0") or 0)
                with worker._cond:
                    worker.arrivals.setdefault(queue_id, []).append((arrived_s, eta_s))
                    worker._cond.notify_all()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/work"

    def wait_for(self, queue_id: str, count: int, *, timeout_s: float) -> list[tuple[float, float]]:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(self.arrivals.get(queue_id, [])) < count:
                left_s = deadline - time.monotonic()
                if left_s <= 0:
                    got = len(self.arrivals.get(queue_id, []))
                    raise TimeoutError(f"{queue_id}: {got} of {count} tasks arrived")
                self._cond.wait(left_s)
            return list(self.arrivals[queue_id])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@dataclass
class Target:
    """One running emulator and a client for it."""

    name: str
    proc: procs.Proc
    address: str
    client: tasks_v2.CloudTasksClient = field(init=False)
    _queues: Iterator[int] = field(init=False)

    def __post_init__(self) -> None:
        channel = grpc.insecure_channel(self.address)
        self.client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
        self._queues = iter(range(1, 1_000_000))

    def new_queue(self, kind: str, *, paused: bool = False) -> str:
        # Unique across emulators too: the worker tells queues apart by their short ids.
        queue_id = f"{self.name}-{kind}-{next(self._queues)}"
        name = f"{PARENT}/queues/{queue_id}"
        self.client.create_queue(
            parent=PARENT,
            queue=tasks_v2.Queue(
                name=name,
                rate_limits=tasks_v2.RateLimits(
                    max_dispatches_per_second=500, max_concurrent_dispatches=1000
                ),
            ),
        )
        if paused:
            self.client.pause_queue(name=name)
        return name

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")


def _start_ours(name: str, *, data_dir: Path | None, log_dir: Path) -> Target:
    args = ["--port=0", "--http-port=0", *([f"--data-dir={data_dir}"] if data_dir else [])]
    started = start_tasks_emulator(name, log_path=log_dir / f"{name}.log", args=args)
    return Target(name=name, proc=started.proc, address=started.grpc_target)


def _start_gcloud(*, log_dir: Path) -> Target:
    if not GCLOUD_PYTHON.exists():
        raise MissingPrerequisite(f"{GCLOUD_PYTHON} is missing: run `make bench-emulator`")
    port = procs.free_port()
    argv = [str(GCLOUD_PYTHON), str(LOOPBACK), "start", "-p", str(port), "-q"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore::FutureWarning", "PYTHONUNBUFFERED": "1"}
    proc = procs.start("gcloud", argv, log_path=log_dir / "gcloud.log", env=env)
    procs.wait_until(
        lambda: procs.tcp_open(port), what="gcloud-tasks-emulator", timeout_s=60, watch=[proc]
    )
    return Target(name="gcloud", proc=proc, address=f"127.0.0.1:{port}")


def _timestamp(at_s: float) -> timestamp_pb2.Timestamp:
    seconds = int(at_s)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=int((at_s - seconds) * 1e9))


def _task_id(queue: str, index: int) -> str:
    # Hashed ids, as production recommends (sequential ones are slower there).
    return hashlib.sha256(f"{queue}/{index}".encode()).hexdigest()[:32]


def create_tasks(
    target: Target,
    queue: str,
    count: int,
    *,
    url: str,
    schedule: Callable[[int], float | None],
    start: int = 0,
    named: bool = True,
) -> float:
    """Create ``count`` tasks from ``THREADS`` threads; returns the seconds it took."""

    def create(index: int) -> None:
        task = tasks_v2.Task(
            name=f"{queue}/tasks/{_task_id(queue, index)}" if named else "",
            http_request=tasks_v2.HttpRequest(
                url=url,
                http_method=tasks_v2.HttpMethod.POST,
                headers={"Content-Type": "application/octet-stream"},
                body=BODY,
            ),
        )
        at_s = schedule(index)
        if at_s is not None:
            task.schedule_time = _timestamp(at_s)
        target.client.create_task(parent=queue, task=task, timeout=60)

    def run(indices: range) -> None:
        for index in indices:
            create(index)

    shares = [range(start + i, start + count, THREADS) for i in range(THREADS)]
    started_s = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(run, share) for share in shares]:
            future.result()
    return time.perf_counter() - started_s


def create_rate(
    target: Target, queue: str, count: int, *, url: str, start: int = 0, named: bool = True
) -> float:
    hour_ahead_s = time.time() + 3600
    elapsed_s = create_tasks(
        target, queue, count, url=url, schedule=lambda _: hour_ahead_s, start=start, named=named
    )
    return count / elapsed_s


def dispatch_rate(target: Target, worker: Worker, count: int, *, queue: str | None = None) -> float:
    """Tasks/s from a paused queue holding ``count`` due tasks, from resume to the last arrival."""
    if queue is None:
        queue = target.new_queue("dispatch", paused=True)
    else:
        target.client.pause_queue(name=queue)
    queue_id = queue.rsplit("/", 1)[1]
    already = len(worker.arrivals.get(queue_id, []))
    create_tasks(target, queue, count, url=worker.url, schedule=lambda _: None, start=10**9)
    resumed_s = time.time()
    target.client.resume_queue(name=queue)
    arrivals = worker.wait_for(queue_id, already + count, timeout_s=600)
    last_s = max(arrived for arrived, _ in arrivals[already:])
    return count / (last_s - resumed_s)


def lateness_ms(target: Target, worker: Worker) -> tuple[float, float, float]:
    queue = target.new_queue("lateness")
    base_s = time.time() + LATENESS_LEAD_S
    create_tasks(
        target,
        queue,
        LATENESS_TASKS,
        url=worker.url,
        schedule=lambda index: base_s + index * LATENESS_SPACING_S,
    )
    queue_id = queue.rsplit("/", 1)[1]
    already = len(worker.arrivals.get(queue_id, []))
    arrivals = worker.wait_for(queue_id, already + LATENESS_TASKS, timeout_s=120)
    late_ms = sorted((arrived - eta) * 1000 for arrived, eta in arrivals[already:])
    p99 = late_ms[min(len(late_ms) - 1, int(len(late_ms) * 0.99))]
    return statistics.median(late_ms), p99, late_ms[-1]


def _fmt(values: list[float]) -> str:
    median, low, high = summary(values)
    return f"{median:8.1f} [{low:.1f}-{high:.1f}]"


@contextmanager
def _running(log_dir: Path, data_dir: Path) -> Iterator[list[Target]]:
    started: list[Target] = []
    try:
        started.append(_start_ours("ours-memory", data_dir=None, log_dir=log_dir))
        started.append(_start_ours("ours-data-dir", data_dir=data_dir, log_dir=log_dir))
        started.append(_start_gcloud(log_dir=log_dir))
        yield started
    finally:
        for target in started:
            procs.stop(target.proc, grace_s=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=2000, help="tasks per CreateTask run")
    parser.add_argument("--runs", type=int, default=3, help="CreateTask runs per emulator")
    parser.add_argument("--pending", type=int, default=100_000, help="pending tasks (0: skip)")
    args = parser.parse_args(argv)

    worker = Worker()
    with (
        tempfile.TemporaryDirectory(prefix="bench-emulator-") as scratch,
        _running(Path(scratch) / "logs", Path(scratch) / "data") as targets,
    ):
        by_name = {target.name: target for target in targets}
        for target in targets:  # warm up: channels, threads, caches
            create_rate(target, target.new_queue("warm-up", paused=True), 100, url=worker.url)
        for named in (True, False):
            kind = "named" if named else "unnamed (generated ids)"
            print(f"CreateTask, {args.tasks} {kind} ~2 KB tasks from {THREADS} threads, calls/s")
            rates: dict[str, list[float]] = {target.name: [] for target in targets}
            queues = {target.name: target.new_queue("create", paused=True) for target in targets}
            for run in range(args.runs):
                for target in targets:
                    rate = create_rate(
                        target,
                        queues[target.name],
                        args.tasks,
                        url=worker.url,
                        start=run * args.tasks,
                        named=named,
                    )
                    rates[target.name].append(rate)
            gcloud_median = statistics.median(rates["gcloud"])
            for name, values in rates.items():
                ratio = statistics.median(values) / gcloud_median
                print(f"  {name:<14} {_fmt(values)}   {ratio:4.2f}x gcloud-tasks-emulator")

        procs.stop(by_name["gcloud"].proc, grace_s=10)  # from here on, ours only: free its CPU
        print(f"Dispatch, {args.tasks} due tasks, rate limits 500/s and 1000 concurrent, tasks/s")
        empty_dispatch: dict[str, float] = {}
        for name in ("ours-memory", "ours-data-dir"):
            empty_dispatch[name] = dispatch_rate(by_name[name], worker, args.tasks)
            print(f"  {name:<14} {empty_dispatch[name]:8.1f}")

        print(f"Lateness at 100 tasks/s ({LATENESS_TASKS} tasks), ms: p50 p99 max")
        for name in ("ours-memory", "ours-data-dir"):
            p50, p99, worst = lateness_ms(by_name[name], worker)
            print(f"  {name:<14} {p50:8.1f} {p99:8.1f} {worst:8.1f}")

        if args.pending:
            print(f"With {args.pending} pending tasks in the queue (vs empty, same emulator)")
            for name in ("ours-memory", "ours-data-dir"):
                target = by_name[name]
                empty_queue = target.new_queue("empty")
                empty_create = create_rate(target, empty_queue, args.tasks, url=worker.url)
                rss_before = target.rss_mb()
                full = target.new_queue("full")
                load_s = create_tasks(
                    target,
                    full,
                    args.pending,
                    url=worker.url,
                    schedule=lambda _: time.time() + 3600,
                    start=10**8,
                )
                rss_after = target.rss_mb()
                full_create = create_rate(target, full, args.tasks, url=worker.url)
                full_dispatch = dispatch_rate(target, worker, args.tasks, queue=full)
                print(
                    f"  {name:<14} CreateTask {full_create:8.1f} vs {empty_create:8.1f} calls/s"
                    f" (slowdown {empty_create / full_create:4.2f}x);"
                    f" dispatch {full_dispatch:6.1f} vs {empty_dispatch[name]:6.1f} tasks/s"
                    f" (slowdown {empty_dispatch[name] / full_dispatch:4.2f}x)"
                )
                print(
                    f"  {'':<14} RSS {rss_before:7.1f} -> {rss_after:7.1f} MB"
                    f" ({(rss_after - rss_before) * 1024 * 1024 / args.pending:6.0f} bytes/task);"
                    f" loading took {load_s:5.1f} s ({args.pending / load_s:6.1f} calls/s)"
                )
    worker.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
