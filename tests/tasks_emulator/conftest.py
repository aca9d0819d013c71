"""Fixtures: the emulator as a real subprocess, the official clients, a recording worker."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "emu-project"
LOCATION = "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
READY = re.compile(r"tasks_emulator ready: grpc (\S+):(\d+)(?: http http://(\S+):(\d+))?")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 60.0
_queue_ids = itertools.count(1)


@dataclass
class Emulator:
    """A running ``python -m tasks_emulator``."""

    process: subprocess.Popen[str]
    grpc_target: str
    http_url: str
    ready_line: str
    stderr_lines: list[str] = field(default_factory=list)

    def terminate(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM and wait; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT_S)


def start_emulator(*args: str) -> Emulator:
    """Start the emulator on free ports and wait for its ready line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tasks_emulator", "--port", "0", "--http-port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr_lines: list[str] = []
    threading.Thread(target=lambda: stderr_lines.extend(process.stderr or ()), daemon=True).start()
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        lines.append(process.stdout.readline())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(START_TIMEOUT_S)
    match = READY.match(lines[0]) if lines else None
    if match is None:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_S)
        raise AssertionError(f"no ready line: {lines!r}, stderr: {''.join(stderr_lines)}")
    http_url = f"http://{match[3]}:{match[4]}" if match[3] else ""
    return Emulator(
        process=process,
        grpc_target=f"{match[1]}:{match[2]}",
        http_url=http_url,
        ready_line=lines[0].strip(),
        stderr_lines=stderr_lines,
    )


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., Emulator]]:
    """Start emulators with given arguments; every one is stopped by PID at the end."""
    started: list[Emulator] = []

    def start(*args: str) -> Emulator:
        emulator = start_emulator(*args)
        started.append(emulator)
        return emulator

    try:
        yield start
    finally:
        for emulator in started:
            try:
                emulator.terminate(timeout_s=20)
            except subprocess.TimeoutExpired:
                emulator.kill()


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """One emulator for the API tests (each test uses queues of its own)."""
    running = start_emulator()
    try:
        yield running
    finally:
        try:
            running.terminate(timeout_s=20)
        except subprocess.TimeoutExpired:
            running.kill()


def grpc_client(emulator: Emulator) -> Any:
    channel = grpc.insecure_channel(emulator.grpc_target)
    return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))


def rest_client(emulator: Emulator) -> Any:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    return tasks_v2.CloudTasksClient(
        transport="rest",
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=emulator.http_url),
    )


CLIENTS: dict[str, Callable[[Emulator], Any]] = {"grpc": grpc_client}


@pytest.fixture(params=sorted(CLIENTS))
def client(request: pytest.FixtureRequest, emulator: Emulator) -> Any:
    """The official client, over each transport the emulator serves."""
    return CLIENTS[request.param](emulator)


def new_queue_name() -> str:
    return f"{PARENT}/queues/q{os.getpid()}-{next(_queue_ids)}"


@pytest.fixture
def queue_name(client: Any) -> str:
    """A fresh queue with production's defaults."""
    name = new_queue_name()
    client.create_queue(parent=PARENT, queue={"name": name})
    return name


def wait_for(predicate: Callable[[], Any], *, timeout_s: float, what: str) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)
