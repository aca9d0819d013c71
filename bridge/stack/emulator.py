"""The one launcher of each emulator for the local stack, the tests and the benchmarks:
tasks_emulator (on loopback; its addresses read from its ready line) and the official Pub/Sub
emulator (on loopback at a given port; ready when it answers HTTP).

(``tests/tasks_emulator`` keeps its own: that suite runs where only tasks_emulator is installed.)
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bridge.stack import procs
from bridge.stack.procs import Proc, StackError

REPO_ROOT = Path(__file__).resolve().parents[2]
# "tasks_emulator ready: grpc 127.0.0.1:8123 http http://127.0.0.1:8124 oidc ..."
READY_LINE = re.compile(r"tasks_emulator ready: grpc (?P<grpc>\S+) http (?P<http>\S+)")
READY_TIMEOUT_S = 60.0


def start_pubsub_emulator(
    launcher: Path, *, port: int, log_path: Path, cwd: Path, name: str = "pubsub-emulator"
) -> Proc:
    """Start the Pub/Sub emulator (``launcher``: its ``cloud-pubsub-emulator``) on
    ``127.0.0.1:port``; raised if it exits or does not answer within ``READY_TIMEOUT_S``:
    ``StackError`` (with its log's tail; the process is stopped)."""
    argv = [str(launcher), "--host=127.0.0.1", f"--port={port}"]
    proc = procs.start(name, argv, log_path=log_path, cwd=cwd)
    with _stopped_unless_ready(proc):
        procs.wait_until(
            lambda: procs.http_answers(f"http://127.0.0.1:{port}/"),
            what="the Pub/Sub emulator to answer",
            timeout_s=READY_TIMEOUT_S,
            watch=[proc],
        )
    return proc


@contextlib.contextmanager
def _stopped_unless_ready(proc: Proc) -> Iterator[None]:
    """A start that fails leaves nothing running: ``proc`` is stopped by PID if the block raises."""
    try:
        yield
    except StackError:
        procs.stop(proc)
        raise


@dataclass(frozen=True, slots=True)
class RunningEmulator:
    proc: Proc
    grpc_target: str  # host:port, for CLOUD_TASKS_EMULATOR_HOST
    http_url: str  # REST API, OIDC discovery and keys


def start_tasks_emulator(
    name: str, *, log_path: Path, args: Sequence[str] = ("--port=0", "--http-port=0")
) -> RunningEmulator:
    """Start ``python -m tasks_emulator --host=127.0.0.1 *args``; raised if it exits or prints
    no ready line within ``READY_TIMEOUT_S``: ``StackError`` (with its log's tail; the process is
    stopped). The ready line is looked for only in what this start appends to ``log_path`` (a
    restart reuses it)."""
    offset = log_path.stat().st_size if log_path.exists() else 0
    argv = [sys.executable, "-m", "tasks_emulator", "--host=127.0.0.1", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = procs.start(name, argv, log_path=log_path, env=env, cwd=REPO_ROOT)
    found: list[re.Match[str]] = []

    def ready() -> bool:
        text = log_path.read_bytes()[offset:].decode("utf-8", "replace")
        match = READY_LINE.search(text)
        if match:
            found.append(match)
        return match is not None

    with _stopped_unless_ready(proc):
        procs.wait_until(
            ready, what=f"{name}'s ready line", timeout_s=READY_TIMEOUT_S, watch=[proc]
        )
    return RunningEmulator(proc=proc, grpc_target=found[0]["grpc"], http_url=found[0]["http"])
