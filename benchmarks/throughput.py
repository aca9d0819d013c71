"""Throughput and latency through the local stack: the bridge (main.py, ``enqueue``) against a
minimal function that only creates one fixed task (benchmarks/minimal_main.py, ``minimal``),
both served by functions-framework on the same emulators, in alternating runs.

Run: .venv/bin/python -m benchmarks.throughput [--messages 1000] [--runs 3] [--paced 200]

One stack (Pub/Sub emulator, Cloud Tasks emulator, worker); the queues stay paused, so tasks only
accumulate (nothing is dispatched) and every run reads them back. Between runs functions-framework
is restarted with the other source and the queues are purged. Per run:

- burst: N ~2 KB envelopes (service brain, one key each) in one publish request
  (``Publisher.publish_many``); throughput = N / (last ``created`` log line seen - publish start);
  then ListTasks must hold N tasks.
- paced: M messages published one at a time at a fixed rate well below capacity; latency =
  time the ``created`` line appears in the function's log - time the publish call started.
  The log is tailed every 2 ms, so a figure is late by at most ~2 ms plus a file write.
- the function's own ``latency_ms`` (its handler only) and the CPU seconds its process group used
  per message (from /proc), which the emulators' limits do not hide.

A third variant, ``noop`` (logs the same line, creates nothing), gives the ceiling of Pub/Sub
push + functions-framework on this machine. Also measured, without any function: CreateTask
straight into the Cloud Tasks emulator (``tasks_emulator``, with its ``--data-dir``) from 8
threads: the ceiling of the stack's task side.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.stats import ratio_line, summary
from bridge.publishing.publisher import Publisher, build_envelope
from bridge.stack import procs
from bridge.stack.procs import MissingPrerequisite, StackError
from bridge.stack.runner import PROJECT_ID, REPO_ROOT, SERVICE_BY_NAME, SERVICES, Stack

MINIMAL_SOURCE = REPO_ROOT / "benchmarks" / "minimal_main.py"
VARIANTS = {
    "ours": (REPO_ROOT / "main.py", "enqueue"),
    "minimal": (MINIMAL_SOURCE, "minimal"),
    "noop": (MINIMAL_SOURCE, "noop"),  # creates no task: the Pub/Sub push side's ceiling
}
BRAIN = SERVICE_BY_NAME["brain"]
PAYLOAD_FILL = 1900  # characters: the envelope is ~2 KB of JSON


class LogTail:
    """Follows the function's log from its current end; records when each ``created`` line for a
    message id first appears (time.time())."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.created_at: dict[str, float] = {}
        self.latency_ms: dict[str, float] = {}
        self._offset = path.stat().st_size if path.exists() else 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="log-tail", daemon=True)

    def __enter__(self) -> LogTail:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def count(self) -> int:
        with self._lock:
            return len(self.created_at)

    def _run(self) -> None:
        with self.path.open("rb") as log:
            log.seek(self._offset)
            pending = b""
            while not self._stop.is_set():
                chunk = log.read()
                if not chunk:
                    time.sleep(0.002)
                    continue
                seen = time.time()
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    self._line(line, seen)

    def _line(self, line: bytes, seen: float) -> None:
        if not line.startswith(b"{"):
            return
        try:
            entry = json.loads(line)
        except ValueError:
            return
        if not isinstance(entry, dict) or entry.get("outcome") != "created":
            return
        message_id = str(entry.get("message_id"))
        with self._lock:
            self.created_at.setdefault(message_id, seen)
            self.latency_ms.setdefault(message_id, float(entry.get("latency_ms", 0.0)))


def wait_until(check: Any, *, what: str, timeout_s: float) -> None:
    procs.wait_until(check, what=what, timeout_s=timeout_s, interval_s=0.005)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Run:
    variant: str
    throughput: float = 0.0  # messages/s, burst
    burst_p50_ms: float = 0.0
    burst_p99_ms: float = 0.0
    paced_ms: list[float] = field(default_factory=list)
    handler_ms: list[float] = field(default_factory=list)
    cpu_ms_per_message: float = 0.0  # the function's process group
    pubsub_cpu_ms: float = 0.0  # the Pub/Sub emulator's JVM, per message
    tasks_cpu_ms: float = 0.0  # the Cloud Tasks emulator, per message


class Bench:
    def __init__(self, stack: Stack, *, messages: int, paced: int, rate: float) -> None:
        self.stack = stack
        self.messages = messages
        self.paced = paced
        self.rate = rate
        self.publisher = Publisher(project=PROJECT_ID)
        self.sequence = 0

    def envelopes(self, count: int, tag: str) -> list[Any]:
        result = []
        for _ in range(count):
            self.sequence += 1
            payload = {"n": self.sequence, "tag": tag, "fill": "x" * PAYLOAD_FILL}
            result.append(
                build_envelope("brain", payload, idempotency_key=f"bench-{tag}-{self.sequence}")
            )
        return result

    def switch_to(self, variant: str) -> None:
        self.stack.source, self.stack.target = VARIANTS[variant]
        self.stack.restart_function()
        self.purge()
        with LogTail(self.stack.log_path("function")) as tail:  # warm up: first calls connect
            self.publisher.publish_many(self.envelopes(50, "warmup"))
            wait_until(lambda: tail.count() >= 50, what="50 warm-up messages", timeout_s=60)
        self.purge()

    def purge(self) -> None:
        tasks = self.stack.require_tasks()
        for service in SERVICES:
            tasks.purge(service.queue_path)

    def run(self, variant: str) -> Run:
        result = Run(variant)
        pids = self.stack.process_ids()
        log = self.stack.log_path("function")
        batch = self.envelopes(self.messages, f"burst-{variant}")
        cpu_before = {name: procs.group_cpu_s(pid) for name, pid in pids.items()}
        with LogTail(log) as tail:
            started = time.time()
            ids = self.publisher.publish_many(batch)
            wait_until(
                lambda: tail.count() >= len(ids),
                what=f"{len(ids)} created outcomes",
                timeout_s=300,
            )
        cpu_ms = {
            name: (procs.group_cpu_s(pid) - cpu_before[name]) * 1000 / len(ids)
            for name, pid in pids.items()
        }
        arrivals = [tail.created_at[m] for m in ids]
        result.throughput = len(ids) / (max(arrivals) - started)
        burst = [(t - started) * 1000 for t in arrivals]
        result.burst_p50_ms = percentile(burst, 0.5)
        result.burst_p99_ms = percentile(burst, 0.99)
        result.handler_ms = [tail.latency_ms[m] for m in ids]
        result.cpu_ms_per_message = cpu_ms["function"]
        result.pubsub_cpu_ms = cpu_ms["pubsub-emulator"]
        result.tasks_cpu_ms = cpu_ms["tasks-emulator"]
        held = len(self.stack.require_tasks().list_tasks(BRAIN.queue_path))
        expected = 0 if variant == "noop" else len(ids)
        if held != expected:
            raise StackError(f"{variant}: {held} tasks in {BRAIN.queue_id}, expected {expected}")
        self.purge()

        interval = 1.0 / self.rate
        with LogTail(log) as tail:
            sent: dict[str, float] = {}
            next_at = time.monotonic()
            for envelope in self.envelopes(self.paced, f"paced-{variant}"):
                time.sleep(max(0.0, next_at - time.monotonic()))
                next_at += interval
                at = time.time()
                [message_id] = self.publisher.publish_many([envelope])
                sent[message_id] = at
            wait_until(lambda: tail.count() >= len(sent), what="the paced messages", timeout_s=120)
        result.paced_ms = [(tail.created_at[m] - at) * 1000 for m, at in sent.items()]
        self.purge()
        return result


def emulator_ceiling(stack: Stack, *, count: int, threads: int) -> float:
    """CreateTask calls/s straight into the Cloud Tasks emulator (no Pub/Sub, no function)."""
    from google.cloud import tasks_v2

    client: Any = stack.require_tasks().client  # the stack's own admin client
    url = stack.worker.url(BRAIN.path)
    body = json.dumps({"fill": "x" * PAYLOAD_FILL}).encode()

    def create(_: int) -> None:
        task = tasks_v2.Task(http_request=tasks_v2.HttpRequest(url=url, body=body))
        client.create_task(parent=BRAIN.queue_path, task=task, timeout=10)

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(create, range(50)))  # warm up
        started = time.perf_counter()
        list(pool.map(create, range(count)))
        elapsed = time.perf_counter() - started
    for service in SERVICES:
        stack.require_tasks().purge(service.queue_path)
    return count / elapsed


def fmt(values: list[float]) -> str:
    median, low, high = summary(values)
    return f"{median:8.1f} [{low:.1f}-{high:.1f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000, help="burst size per run")
    parser.add_argument("--runs", type=int, default=5, help="runs per variant (alternating)")
    parser.add_argument("--paced", type=int, default=200, help="paced messages per run")
    parser.add_argument("--rate", type=float, default=20.0, help="paced rate, messages/s")
    args = parser.parse_args()
    print(f"throughput and latency through the local stack ({os.cpu_count()} cores)", flush=True)
    try:
        with Stack(echo=lambda line: print(f"· {line}", flush=True)) as stack:
            os.environ["PUBSUB_EMULATOR_HOST"] = stack.pubsub_host
            for service in SERVICES:
                stack.require_tasks().pause(service.queue_path)
            bench = Bench(stack, messages=args.messages, paced=args.paced, rate=args.rate)
            runs: dict[str, list[Run]] = {"ours": [], "minimal": [], "noop": []}
            ceilings: list[float] = []
            for n in range(args.runs):
                order = ("minimal", "ours", "noop") if n % 2 == 0 else ("ours", "minimal", "noop")
                ceilings.append(emulator_ceiling(stack, count=args.messages, threads=8))
                for variant in order:
                    bench.switch_to(variant)
                    run = bench.run(variant)
                    runs[variant].append(run)
                    print(
                        f"  run {n + 1} {variant:<7} {run.throughput:7.1f} msg/s  burst "
                        f"p50 {run.burst_p50_ms:6.0f} ms p99 {run.burst_p99_ms:6.0f} ms  paced "
                        f"p50 {percentile(run.paced_ms, 0.5):5.1f} ms "
                        f"p99 {percentile(run.paced_ms, 0.99):5.1f} ms  "
                        f"CPU ms/msg: function {run.cpu_ms_per_message:4.2f} pubsub-emulator "
                        f"{run.pubsub_cpu_ms:4.2f} tasks-emulator {run.tasks_cpu_ms:4.2f}",
                        flush=True,
                    )
            report(runs, ceilings, args)
    except MissingPrerequisite as err:
        print(f"cannot run: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: every process was stopped", file=sys.stderr)
        return 130
    return 0


def report(runs: dict[str, list[Run]], ceilings: list[float], args: argparse.Namespace) -> None:
    ours, minimal = runs["ours"], runs["minimal"]

    def pooled(variant: list[Run], pick: str) -> list[float]:
        return [value for run in variant for value in getattr(run, pick)]

    print(
        f"\n{args.runs} alternating runs each; burst {args.messages} x ~2 KB envelopes, "
        f"paced {args.paced} at {args.rate:g}/s; median [min-max] over runs"
    )
    print(
        ratio_line(
            "burst throughput (msg/s)",
            [r.throughput for r in ours],
            [r.throughput for r in minimal],
            "/s",
        ).replace("floor", "minimal")
        + "  (target >= 0.90x)"
    )
    for label, pick in (("burst p50 (ms)", "burst_p50_ms"), ("burst p99 (ms)", "burst_p99_ms")):
        print(
            ratio_line(
                label, [getattr(r, pick) for r in ours], [getattr(r, pick) for r in minimal], "ms"
            ).replace("floor", "minimal")
        )
    print(
        ratio_line(
            "function CPU per message",
            [r.cpu_ms_per_message for r in ours],
            [r.cpu_ms_per_message for r in minimal],
            "ms",
        ).replace("floor", "minimal")
    )
    for label, pick in (
        ("pubsub emulator CPU", "pubsub_cpu_ms"),
        ("tasks emulator CPU", "tasks_cpu_ms"),
    ):
        print(
            ratio_line(
                f"{label} per message",
                [getattr(r, pick) for r in ours],
                [getattr(r, pick) for r in minimal],
                "ms",
            ).replace("floor", "minimal")
        )
    for label, pick in (
        ("paced publish->created", "paced_ms"),
        ("handler latency_ms", "handler_ms"),
    ):
        for name, variant in (("ours", ours), ("minimal", minimal)):
            values = pooled(variant, pick)
            print(
                f"{label + ' ' + name:<34} p50 {percentile(values, 0.5):7.1f} ms"
                f"   p99 {percentile(values, 0.99):7.1f} ms"
                f"   mean {statistics.mean(values):7.1f} ms   (n={len(values)})"
            )
    noop = runs["noop"]
    print(
        f"no-op function (push + functions-framework only): {fmt([r.throughput for r in noop])}"
        f" msg/s, function CPU {fmt([r.cpu_ms_per_message for r in noop])} ms/msg"
    )
    print(f"Cloud Tasks emulator alone, CreateTask from 8 threads: {fmt(ceilings)} calls/s")
    print("(burst latency is queueing behind the burst: the paced figures are per message)")


if __name__ == "__main__":
    sys.exit(main())
