"""Processes of the local stack: each in its own process group, polled until ready, stopped by PID.

Every process is started with ``start_new_session=True``, so its PID is also the id of a process
group holding everything it forks (the Pub/Sub emulator's JVM, gunicorn's worker). Stopping sends
SIGTERM to that group, waits with a deadline, then SIGKILL. Nothing is ever killed by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bridge.stack.poll import TimedOut, poll_until


class StackError(RuntimeError):
    """Raised if a process of the stack did not start, did not become ready, or died."""


class MissingPrerequisite(StackError):
    """Raised if something the stack needs is not installed; the message says what and how."""


@dataclass
class Proc:
    """One started process (the leader of its own process group) and its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(
    name: str,
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Proc:
    """Start ``argv`` in a new session (its own process group), output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        try:
            popen = subprocess.Popen(  # noqa: S603 - argv is built by the stack, never from input
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        except FileNotFoundError as err:
            raise MissingPrerequisite(f"{name}: cannot run {argv[0]!r}: {err}") from err
    return Proc(name=name, popen=popen, log_path=log_path)


def stop(proc: Proc, *, grace_s: float = 5.0) -> None:
    """Stop ``proc`` and everything in its process group: SIGTERM, a deadline, then SIGKILL."""
    pgid = proc.pid  # start_new_session=True: the leader's PID is the group's id
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, grace_s)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break  # the whole group is gone
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None and not _group_alive(pgid):
                break
            time.sleep(0.05)
        else:
            continue  # still alive after the grace period: escalate
        break
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.popen.wait(timeout=grace_s)


def _group_alive(pgid: int) -> bool:
    return bool(group_members(pgid))


CLK_TCK = os.sysconf("SC_CLK_TCK")  # /proc's unit of CPU time


def group_cpu_s(pgid: int) -> float:
    """utime + stime (s) of the live processes of process group ``pgid`` (a benchmark's view)."""
    total = 0
    for pid in group_members(pgid):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / CLK_TCK


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``, read from /proc.

    Orphans killed with their group may stay zombies until their new parent reaps them: they
    hold no port and run nothing, so they do not count.
    """
    members: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat.rsplit(")", 1)[-1].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def wait_until(
    check: Callable[[], bool],
    *,
    what: str,
    timeout_s: float,
    watch: Sequence[Proc] = (),
    interval_s: float = 0.05,
) -> None:
    """Poll ``check`` until it is true (``poll_until``); raise ``StackError`` at the deadline or
    if a watched process dies first (with the tail of its log)."""

    def ready() -> bool:
        for proc in watch:
            if not proc.alive():
                raise StackError(
                    f"{proc.name} exited with code {proc.popen.returncode} while waiting for "
                    f"{what}; last lines of {proc.log_path}:\n{proc.tail()}"
                )
        return check()

    try:
        poll_until(ready, timeout_s=timeout_s, what=what, interval_s=interval_s)
    except TimedOut as e:
        tails = "".join(f"\n--- {p.name} ({p.log_path}):\n{p.tail()}" for p in watch)
        raise StackError(f"{e}{tails}") from e


def http_answers(url: str, *, timeout_s: float = 1.0) -> bool:
    """True if an HTTP server answers ``url`` at all (any status code)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s):  # noqa: S310 - loopback http only
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def tcp_open(port: int, *, host: str = "127.0.0.1") -> bool:
    """True if something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def listening_addresses(port: int) -> set[str]:
    """The local addresses (hex, as in /proc/net/tcp*) on which ``port`` is in LISTEN state."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, _, port_hex = fields[1].rpartition(":")
            if fields[3] == "0A" and int(port_hex, 16) == port:  # 0A = LISTEN
                found.add(address)
    return found
