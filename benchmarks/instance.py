"""One instance, many requests: what one functions-framework process serves per second when it is
driven as Pub/Sub push drives it, against a Cloud Tasks whose CreateTask answers 0, 30 or 100 ms
late (``tasks_emulator --latency CreateTask:MS``).

Run: .venv/bin/python -m benchmarks.instance [--rounds 5] [--seconds 3] [--in-flight 80]
     [--latencies 0,30,100] [--shapes bridge,minimal-async,...] [--paced MSG_PER_S]

Shapes, each its own functions-framework process, all started at once (one per latency, each on
the Cloud Tasks emulator of that latency), then driven in turn, round after round, in an order
that alternates, so that load from the other tenants of this machine hits all alike:

- ``bridge``: ``main.py``, ``enqueue``, served as deployed (``bridge.stack.runner.function_argv``);
- ``minimal-async`` / ``noop-async``: ``benchmarks/minimal_main.py``'s ASGI baselines, served the
  same way (one CreateTask of a fixed task / nothing);
- ``minimal-threads`` / ``noop-flask``: its Flask baselines with ``THREADS`` = in flight;
- ``old-default``: the bridge as it was before the ASGI shape (``OLD_SHAPE_COMMIT``, extracted
  with ``git archive``), served with functions-framework's defaults (``THREADS`` unset: 4 per
  CPU) -- the shape this benchmark replaces;
- ``old-threads``: the same old code with ``THREADS`` = in flight (the tuned-threads candidate).

The load: C keep-alive HTTP/1.1 connections (C = ``--in-flight``), each sending the next push as
soon as the previous one is answered, for ``--seconds``; raw pushes (``{"message", "subscription"}``
as a push subscription sends them) and, for the bridge and the async minimal, binary-mode
CloudEvents (``ce-*`` headers, as Eventarc sends them). Every push is a distinct ~2 KB envelope
with its own key, so every one is a new task; they are built before the timed window (``Ready``).
Figures: responses/s (every one must be 200), the function's CPU per message (its process group,
from /proc), its peak RSS under that load (the sum over the group, sampled every 50 ms), and the
machine's load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.stats import summary
from bridge.stack import procs
from bridge.stack.emulator import READY_LINE
from bridge.stack.procs import Proc, StackError
from bridge.stack.queue_policy import terraform_defaults
from bridge.stack.runner import (
    CALLER_SA,
    PROJECT_ID,
    REGION,
    REPO_ROOT,
    SERVICES,
    function_argv,
)
from bridge.stack.tasks_admin import TasksAdmin

# The last commit of the threaded (Flask) bridge: the "old default" shape is that code.
OLD_SHAPE_COMMIT = "6a1d8db"
MINIMAL = REPO_ROOT / "benchmarks" / "minimal_main.py"
TOPIC_PATH = f"projects/{PROJECT_ID}/topics/enqueue-requests"
SUBSCRIPTION = f"projects/{PROJECT_ID}/subscriptions/enqueue-requests-push"
PAYLOAD_FILL = 1900  # characters: the envelope is ~2 KB of JSON, as in benchmarks/throughput.py
PUSHES_READY_PER_S = 3000  # built before each window: above every shape's rate but the no-ops
RAW, BINARY = "raw", "binary"
PACED = "paced"  # raw pushes at ``--paced`` msg/s in all: the CPU per message under one load
# tasks_emulator serves 4 API calls at once (``--api-threads``) and ``--latency`` holds the
# serving thread: 80 CreateTasks of 30 ms in flight would queue behind 4 (at most 133/s). Cloud
# Tasks answers every call in parallel, so the benchmark runs the emulator with as many API
# threads as the function has calls in flight, and a few more.


@dataclass(frozen=True, slots=True)
class Shape:
    name: str
    source: Path
    target: str
    env: Mapping[str, str]
    modes: tuple[str, ...] = (RAW,)


def shapes(*, in_flight: int, old_source: Path) -> dict[str, Shape]:
    deployed: dict[str, str] = {}  # the ASGI stack needs no variable: function_argv says why
    threads = {"THREADS": str(in_flight)}
    both = (RAW, BINARY)
    table = [
        Shape("bridge", REPO_ROOT / "main.py", "enqueue", deployed, both),
        Shape("minimal-async", MINIMAL, "minimal_async", deployed, both),
        Shape("noop-async", MINIMAL, "noop_async", deployed),
        Shape("minimal-threads", MINIMAL, "minimal", threads),
        Shape("noop-flask", MINIMAL, "noop", threads),
        Shape("old-default", old_source, "enqueue", {}),  # THREADS unset: 4 per CPU
        Shape("old-threads", old_source, "enqueue", threads),
    ]
    return {shape.name: shape for shape in table}


# -- the load -----------------------------------------------------------------------------------


class Pushes:
    """Distinct pushes, as Pub/Sub sends them: raw push bodies or binary-mode CloudEvents."""

    def __init__(self, tag: str) -> None:
        self._tag = tag
        self._n = 0

    def next(self, mode: str, port: int) -> bytes:
        self._n += 1
        message_id = f"{self._tag}{self._n}"
        envelope = {
            "service": "brain",
            "payload": {"n": self._n, "fill": "x" * PAYLOAD_FILL},
            "idempotency_key": f"instance-{message_id}",
        }
        published = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        message = {
            "data": base64.b64encode(json.dumps(envelope).encode()).decode(),
            "attributes": {},
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": published,
            "publish_time": published,
        }
        body = json.dumps({"message": message, "subscription": SUBSCRIPTION}).encode()
        headers = [
            f"Host: 127.0.0.1:{port}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            "User-Agent: APIs-Google",
        ]
        if mode == BINARY:
            headers += [
                f"ce-id: {message_id}",
                "ce-specversion: 1.0",
                f"ce-source: //pubsub.googleapis.com/{TOPIC_PATH}",
                "ce-type: google.cloud.pubsub.topic.v1.messagePublished",
                f"ce-time: {published}",
            ]
        head = "POST / HTTP/1.1\r\n" + "\r\n".join(headers) + "\r\n\r\n"
        return head.encode() + body


@dataclass
class Drive:
    answered: int = 0
    elapsed_s: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)
    built_late: int = 0  # pushes built inside the timed window (the stock ran out)


class Ready:
    """Pushes built before a timed window, so that building them (two JSON encodings and a
    base64 each) is not counted against the function on this shared CPU: Pub/Sub does that work
    on its own machines. Built on the spot only if a window outruns its stock."""

    def __init__(self, pushes: Pushes, mode: str, port: int, count: int) -> None:
        self._pushes, self._mode, self._port = pushes, mode, port
        self._stock = deque(pushes.next(mode, port) for _ in range(count))
        self.built_late = 0

    def next(self) -> bytes:
        if self._stock:
            return self._stock.popleft()
        self.built_late += 1
        return self._pushes.next(self._mode, self._port)


class Pacer:
    """Sends at a fixed rate across all connections (``--paced``): one send per slot of
    1 / rate seconds, so that every shape is measured under the same load."""

    def __init__(self, rate_per_s: float) -> None:
        self._interval_s = 1 / rate_per_s
        self._next = time.perf_counter()

    async def turn(self) -> None:
        now = time.perf_counter()
        slot = max(now, self._next)
        self._next = slot + self._interval_s
        if slot > now:
            await asyncio.sleep(slot - now)


async def _connection(
    ready: Ready, port: int, stop_at: float, drive: Drive, pacer: Pacer | None
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at:
            if pacer is not None:
                await pacer.turn()
            writer.write(ready.next())
            head = await reader.readuntil(b"\r\n\r\n")
            status = head[9:12].decode()
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            if status == "200":
                drive.answered += 1
            else:
                drive.failures[status] = drive.failures.get(status, 0) + 1
    finally:
        writer.close()


async def _drive(
    port: int,
    mode: str,
    pushes: Pushes,
    *,
    in_flight: int,
    seconds: float,
    rate_per_s: float | None = None,
) -> Drive:
    """Each of ``in_flight`` connections sends its next push when the last one is answered, as
    fast as the function answers, or at ``rate_per_s`` in all (then at most)."""
    ready = Ready(pushes, mode, port, count=int(seconds * PUSHES_READY_PER_S))
    drive = Drive()
    pacer = Pacer(rate_per_s) if rate_per_s else None
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(
        *(_connection(ready, port, stop_at, drive, pacer) for _ in range(in_flight))
    )
    drive.elapsed_s = time.perf_counter() - started
    drive.built_late = ready.built_late
    return drive


# -- the processes ------------------------------------------------------------------------------


def group_rss_mib(pgid: int) -> float:
    total_kib = 0
    for pid in procs.group_members(pgid):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kib += int(line.split()[1])
    return total_kib / 1024


class RssSampler:
    def __init__(self, pgid: int) -> None:
        self.pgid = pgid
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak_mib = max(self.peak_mib, group_rss_mib(self.pgid))


def bridge_env(tasks_host: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("QUEUE_", "URL_", "AUD_", "DEADLINE_", "THREADS", "FUNCTION_"))
    }
    env |= {
        "PYTHONUNBUFFERED": "1",
        "PROJECT_ID": PROJECT_ID,
        "TASKS_REGION": REGION,
        "CALLER_SA": CALLER_SA,
        "BRIDGE_SERVICES": ",".join(f"{s.name}:{s.suffix}" for s in SERVICES),
        "REJECTED_TOPIC": "enqueue-requests-rejected",
        "CLOUD_TASKS_EMULATOR_HOST": tasks_host,
    }
    for service in SERVICES:
        env[f"QUEUE_{service.suffix}"] = service.queue_id
        env[f"URL_{service.suffix}"] = f"http://127.0.0.1:9/{service.name}"  # never dispatched
        env[f"DEADLINE_{service.suffix}_S"] = str(service.deadline_s)
    return env


class Bench:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.procs: list[Proc] = []

    def start_emulator(self, latency_ms: int, *, api_threads: int) -> tuple[str, Proc]:
        port, http_port = procs.free_port(), procs.free_port()
        argv = [
            sys.executable,
            "-m",
            "tasks_emulator",
            f"--api-threads={api_threads}",
            "--host=127.0.0.1",
            f"--port={port}",
            f"--http-port={http_port}",
        ]
        if latency_ms:
            argv.append(f"--latency=CreateTask:{latency_ms}")
        log = self.work / f"tasks-emulator-{latency_ms}ms.log"
        proc = procs.start(f"tasks-emulator-{latency_ms}ms", argv, log_path=log, cwd=REPO_ROOT)
        self.procs.append(proc)
        procs.wait_until(
            lambda: READY_LINE.search(log.read_text(errors="replace")) is not None,
            what="the Cloud Tasks emulator's ready line",
            timeout_s=60,
            watch=[proc],
        )
        host = f"127.0.0.1:{port}"
        admin = TasksAdmin(host)
        policy = terraform_defaults()
        for service in SERVICES:
            admin.ensure_queue(service.queue_path, policy)
            admin.pause(service.queue_path)  # tasks accumulate; nothing is dispatched
        admin.close()
        return host, proc

    def serve(self, shape: Shape, *, tasks_host: str, latency_ms: int) -> tuple[Proc, int]:
        port = procs.free_port()
        env = bridge_env(tasks_host) | dict(shape.env)
        if shape.source.parent != REPO_ROOT and shape.source.parent != MINIMAL.parent:
            env["PYTHONPATH"] = str(shape.source.parent)  # the old code's own bridge/
        argv = function_argv(target=shape.target, source=shape.source, port=port)
        name = f"{shape.name}-{latency_ms}ms"
        proc = procs.start(
            name, argv, log_path=self.work / f"{name}.log", env=env, cwd=shape.source.parent
        )
        self.procs.append(proc)
        return proc, port

    def stop(self) -> None:
        for proc in reversed(self.procs):
            procs.stop(proc)


def extract_old_shape(work: Path) -> Path:
    """``main.py`` and ``bridge/`` as of ``OLD_SHAPE_COMMIT``, in ``work/old``."""
    git = shutil.which("git")
    if git is None:
        raise StackError("git is not on PATH: the old shape is read from the repository's history")
    archive = subprocess.run(
        [git, "-C", str(REPO_ROOT), "archive", OLD_SHAPE_COMMIT, "main.py", "bridge"],
        check=True,
        capture_output=True,
    ).stdout
    old = work / "old"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(old, filter="data")
    return old / "main.py"


@dataclass
class Figures:
    rates: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    emulator_cpu_ms: list[float] = field(default_factory=list)
    peak_rss_mib: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)
    built_late: int = 0


def _pushes_of(mode: str) -> str:
    return RAW if mode == PACED else mode


def warm(port: int, mode: str, pushes: Pushes, in_flight: int) -> None:
    asyncio.run(_drive(port, mode, pushes, in_flight=in_flight, seconds=0.5))


def order(items: list[str], round_index: int) -> Iterator[str]:
    """Alternate: forward, backward, rotated by one, ..."""
    rotated = items[round_index % len(items) :] + items[: round_index % len(items)]
    return iter(rotated if round_index % 2 == 0 else list(reversed(rotated)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--in-flight", type=int, default=80)
    parser.add_argument("--latencies", default="0,30,100")
    parser.add_argument("--shapes", default="")
    parser.add_argument(
        "--paced",
        type=float,
        default=0,
        help="also drive raw pushes at this many msg/s in all, every shape alike (0: not)",
    )
    args = parser.parse_args()
    latencies = [int(x) for x in args.latencies.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-instance-"))
    old_source = extract_old_shape(work)
    table = shapes(in_flight=args.in_flight, old_source=old_source)
    chosen = [s for s in args.shapes.split(",") if s] or list(table)
    bench = Bench(work)
    load_before = os.getloadavg()
    results: dict[tuple[str, str, int], Figures] = {}
    try:
        servers: dict[tuple[str, int], tuple[Proc, int]] = {}
        emulators: dict[int, Proc] = {}
        for latency_ms in latencies:
            host, emulators[latency_ms] = bench.start_emulator(
                latency_ms, api_threads=args.in_flight + 16
            )
            for name in chosen:
                servers[(name, latency_ms)] = bench.serve(
                    table[name], tasks_host=host, latency_ms=latency_ms
                )
        for (name, latency_ms), (proc, port) in servers.items():
            procs.wait_until(
                functools.partial(procs.tcp_open, port),
                what=f"{name} ({latency_ms} ms) to listen",
                timeout_s=90,
                watch=[proc],
            )
        pushes = Pushes(tag=f"{os.getpid()}-")
        paced = [PACED] if args.paced else []
        runs = [
            (name, mode, latency_ms)
            for latency_ms in latencies
            for name in chosen
            for mode in [*table[name].modes, *paced]
        ]
        for key in runs:
            name, mode, latency_ms = key
            warm(servers[(name, latency_ms)][1], _pushes_of(mode), pushes, args.in_flight)
            results[key] = Figures()
        labels = [f"{n}|{m}|{lat}" for n, m, lat in runs]
        for round_index in range(args.rounds):
            for label in order(labels, round_index):
                name, mode, latency = label.split("|")
                latency_ms = int(latency)
                proc, port = servers[(name, latency_ms)]
                figures = results[(name, mode, latency_ms)]
                emulator = emulators[latency_ms].pid
                cpu_before, emulator_before = (
                    procs.group_cpu_s(proc.pid),
                    procs.group_cpu_s(emulator),
                )
                with RssSampler(proc.pid) as rss:
                    drive = asyncio.run(
                        _drive(
                            port,
                            _pushes_of(mode),
                            pushes,
                            in_flight=args.in_flight,
                            seconds=args.seconds,
                            rate_per_s=args.paced if mode == PACED else None,
                        )
                    )
                cpu_s = procs.group_cpu_s(proc.pid) - cpu_before
                emulator_s = procs.group_cpu_s(emulator) - emulator_before
                answered = max(1, drive.answered)
                figures.rates.append(drive.answered / drive.elapsed_s)
                figures.cpu_ms.append(cpu_s * 1000 / answered)
                figures.emulator_cpu_ms.append(emulator_s * 1000 / answered)
                figures.peak_rss_mib = max(figures.peak_rss_mib, rss.peak_mib)
                figures.built_late += drive.built_late
                for status, count in drive.failures.items():
                    figures.failures[status] = figures.failures.get(status, 0) + count
                print(
                    f"  round {round_index + 1} {label:<28} {figures.rates[-1]:8.0f} msg/s",
                    flush=True,
                )
    finally:
        bench.stop()
    load_after = os.getloadavg()
    report(results, latencies=latencies, args=args, load=(load_before, load_after))
    shutil.rmtree(work, ignore_errors=True)


def report(
    results: Mapping[tuple[str, str, int], Figures],
    *,
    latencies: list[int],
    args: argparse.Namespace,
    load: tuple[tuple[float, float, float], tuple[float, float, float]],
) -> None:
    print()
    print(
        f"one instance, {args.in_flight} pushes in flight, {args.rounds} alternating rounds of "
        f"{args.seconds:g} s each, median [min-max]"
    )
    print(
        f"load average before: {load[0][0]:.2f} {load[0][1]:.2f} {load[0][2]:.2f}; "
        f"after: {load[1][0]:.2f} {load[1][1]:.2f} {load[1][2]:.2f} ({os.cpu_count()} CPUs)"
    )
    for latency_ms in latencies:
        print(f"\nCreateTask latency {latency_ms} ms")
        print(
            f"  {'shape':<24}{'msg/s':>22}{'CPU ms/msg':>12}{'emulator':>10}{'peak RSS':>11}"
            "  failures"
        )
        rows = {k: v for k, v in results.items() if k[2] == latency_ms}
        for (name, mode, _), figures in rows.items():
            rate, low, high = summary(figures.rates)
            cpu = statistics.median(figures.cpu_ms)
            emulator_cpu = statistics.median(figures.emulator_cpu_ms)
            print(
                f"  {name + ' ' + mode:<24}{rate:8.0f} [{low:5.0f}-{high:5.0f}]"
                f"{cpu:12.3f}{emulator_cpu:10.3f}{figures.peak_rss_mib:8.1f} MiB"
                f"  {figures.failures or '-'}"
                + (f"  ({figures.built_late} pushes built late)" if figures.built_late else "")
            )
        bridge = rows.get(("bridge", RAW, latency_ms))
        minimals = [rows[k] for k in rows if k[0].startswith("minimal") and k[1] == RAW]
        old = rows.get(("old-default", RAW, latency_ms))
        if bridge and minimals:
            best = max(statistics.median(m.rates) for m in minimals)
            per_round = [b / max(m.rates[i] for m in minimals) for i, b in enumerate(bridge.rates)]
            print(
                f"  bridge raw / best minimal raw: {statistics.median(bridge.rates) / best:.2f}x"
                f" (medians); {paired(per_round)}"
            )
            # Where the function alone is the limit (the emulator and the load elsewhere, as in
            # production), the rate is the inverse of its CPU per message.
            print(
                "  best minimal raw CPU per message / bridge raw's: "
                f"{cpu_ratio(bridge, minimals):.2f}x (medians)"
            )
        bridge_paced = rows.get(("bridge", PACED, latency_ms))
        minimal_paced = [rows[k] for k in rows if k[0].startswith("minimal") and k[1] == PACED]
        if bridge_paced and minimal_paced:
            print(
                f"  at {args.paced:g} msg/s for both, best minimal CPU per message / bridge's: "
                f"{cpu_ratio(bridge_paced, minimal_paced):.2f}x (medians)"
            )
        if bridge and old:
            ratio = statistics.median(bridge.rates) / statistics.median(old.rates)
            per_round = [b / o for b, o in zip(bridge.rates, old.rates, strict=True)]
            print(f"  bridge raw / old default raw: {ratio:.2f}x (medians); {paired(per_round)}")


def cpu_ratio(bridge: Figures, minimals: list[Figures]) -> float:
    """The cheapest minimal's CPU per message over the bridge's (medians): its rate per CPU."""
    return min(statistics.median(m.cpu_ms) for m in minimals) / statistics.median(bridge.cpu_ms)


def paired(ratios: list[float]) -> str:
    """Round by round: the two shapes ran minutes apart at most, so the machine's drift between
    rounds (other tenants, heat) cancels out of each ratio."""
    median, low, high = summary(ratios)
    return f"per round {median:.2f}x [{low:.2f}-{high:.2f}]"


if __name__ == "__main__":
    try:
        main()
    except StackError as e:
        raise SystemExit(str(e)) from e
