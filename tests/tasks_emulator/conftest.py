"""Fixtures: the emulator as a real subprocess, the official clients, a recording worker."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
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

    def stop(self) -> None:
        """SIGTERM, and SIGKILL if it has not exited within 20 s (a fixture's teardown)."""
        try:
            self.terminate(timeout_s=20)
        except subprocess.TimeoutExpired:
            self.kill()

    @property
    def certs_url(self) -> str:
        """Where its OIDC tokens' keys are published (``Worker(certs_url=...)``)."""
        return f"{self.http_url}/oauth2/v1/certs"


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


@contextlib.contextmanager
def running_emulator(*args: str) -> Iterator[Emulator]:
    """An emulator started with ``args`` for the block, stopped by PID after it, also when the
    block fails."""
    emulator = start_emulator(*args)
    try:
        yield emulator
    finally:
        emulator.stop()


@contextlib.contextmanager
def fault_plan(emulator: Emulator) -> Iterator[str]:
    """The URL of ``emulator``'s ``/_emulator/faults``; the plan is emptied after the block."""
    url = f"{emulator.http_url}/_emulator/faults"
    try:
        yield url
    finally:
        requests.delete(url, timeout=10).raise_for_status()


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
            emulator.stop()


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """One emulator for the API tests (each test uses queues of its own)."""
    with running_emulator() as running:
        yield running


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


CLIENTS: dict[str, Callable[[Emulator], Any]] = {"grpc": grpc_client, "rest": rest_client}


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


class JsonServer:
    """JSON documents on 127.0.0.1, as Google serves its keys: ``document(path)`` answers each
    GET (None: 404); ``requests`` counts them. Closed by ``close`` or at the end of a ``with``."""

    def __init__(self, document: Callable[[str], Any]) -> None:
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                found = document(self.path)
                body = json.dumps(found).encode()
                self.send_response(200 if found is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> JsonServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# --- the worker ------------------------------------------------------------------------------
@dataclass
class Delivery:
    """One request the worker received, and what it answered."""

    received_s: float
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    answer: str  # "200", "503", "hang", "slow", "busy", "reset"
    claims: dict[str, Any] | None  # the verified ID token's claims
    token_error: str  # why the token did not verify ("" if it did or there was none)

    @property
    def task_id(self) -> str:
        return self.headers.get("X-CloudTasks-TaskName", "")


class Worker:
    """A threaded HTTP worker on 127.0.0.1 that records every request and verifies its OIDC token
    with google-auth against the emulator's published keys.

    Answers are scripted per task id (``plan``): an HTTP status, "hang" (answer nothing for
    ``HANG_S``), "slow" (200 after ``SLOW_S``), "busy" (503 with ``Retry-After: 1``) or
    "reset" (close the connection without answering); then 200.
    """

    HANG_S = 25.0
    SLOW_S = 0.3

    def __init__(self, *, certs_url: str) -> None:
        self.certs_url = certs_url
        self.deliveries: list[Delivery] = []
        self._plans: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server = self._make_server()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def plan(self, task_id: str, answers: list[str]) -> None:
        with self._lock:
            self._plans[task_id] = list(answers)

    def _next_answer(self, task_id: str) -> str:
        with self._lock:
            answers = self._plans.get(task_id)
            return answers.pop(0) if answers else "200"

    def of(self, task_id: str) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.task_id == task_id]

    def wait_for(self, task_id: str, count: int, *, timeout_s: float) -> list[Delivery]:
        found: list[Delivery] = wait_for(
            lambda: len(self.of(task_id)) >= count and self.of(task_id),
            timeout_s=timeout_s,
            what=f"{count} deliveries of {task_id}",
        )
        return found

    def verify(self, headers: dict[str, str]) -> tuple[dict[str, Any] | None, str]:
        """The claims of the request's ID token, verified against ``certs_url``; or why not."""
        from google.auth import exceptions as auth_exceptions
        from google.auth.transport import requests as auth_requests
        from google.oauth2 import id_token

        authorization = headers.get("Authorization", "")
        if not authorization.startswith("Bearer ") or authorization.count(".") != 2:
            return None, ""
        try:
            claims = id_token.verify_token(
                authorization.removeprefix("Bearer "),
                auth_requests.Request(),
                audience=None,
                certs_url=self.certs_url,
            )
        except (ValueError, auth_exceptions.GoogleAuthError) as e:
            return None, str(e)
        return dict(claims), ""

    def _make_server(self) -> Any:
        import http.server
        import socket
        import struct

        worker = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _handle(self) -> None:
                received_s = time.time()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items()}
                answer = worker._next_answer(headers.get("X-CloudTasks-TaskName", ""))
                claims, error = worker.verify(headers)
                with worker._lock:
                    worker.deliveries.append(
                        Delivery(
                            received_s=received_s,
                            method=self.command,
                            path=self.path,
                            headers=headers,
                            body=body,
                            answer=answer,
                            claims=claims,
                            token_error=error,
                        )
                    )
                if answer == "hang":
                    worker._release.wait(worker.HANG_S)
                    self.close_connection = True
                    return
                if answer == "slow":
                    time.sleep(worker.SLOW_S)
                    answer = "200"
                if answer == "reset":
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    return
                if answer == "busy":
                    self.send_response(503)
                    self.send_header("Retry-After", "1")
                else:
                    self.send_response(int(answer))
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        return server

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@pytest.fixture
def worker(emulator: Emulator) -> Iterator[Worker]:
    with Worker(certs_url=emulator.certs_url) as running:
        yield running
