"""Attempts against real HTTP servers on 127.0.0.1, and the headers production sends."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from typing import Any

import pytest
from google.cloud.tasks_v2.types import target

from tasks_emulator.attempt import (
    AttemptContext,
    AttemptOutcome,
    Sender,
    http_method_name,
    worker_headers,
)

HttpRequest = target.HttpRequest.pb()
HttpMethod = target.HttpMethod
ETA_S = 1721236265.266817


def _context(**overrides: Any) -> AttemptContext:
    values: dict[str, Any] = {
        "queue_id": "my-queue",
        "task_id": "task-1",
        "retry_count": 0,
        "execution_count": 0,
        "eta_s": ETA_S,
        "previous_response": None,
        "retry_reason": None,
    }
    values.update(overrides)
    return AttemptContext(**values)


# --- worker_headers: production's table, literally ------------------------------------------


def test_first_attempt_headers() -> None:
    request = HttpRequest(
        url="https://worker.example/run",
        headers={"X-Mixed-Case": "preserve-me", "content-type": "application/json"},
    )
    assert worker_headers(request, _context(), authorization=None) == {
        "X-Mixed-Case": "preserve-me",
        "content-type": "application/json",
        "User-Agent": "Google-Cloud-Tasks",
        "X-CloudTasks-QueueName": "my-queue",
        "X-CloudTasks-TaskName": "task-1",
        "X-CloudTasks-TaskRetryCount": "0",
        "X-CloudTasks-TaskExecutionCount": "0",
        "X-CloudTasks-TaskETA": "1721236265.266817",
    }


def test_retry_after_a_503_then_after_a_404_as_captured_from_production() -> None:
    request = HttpRequest(url="https://worker.example/run")
    second = _context(retry_count=1, execution_count=0, previous_response=503, retry_reason="")
    third = _context(retry_count=2, execution_count=1, previous_response=404, retry_reason="")
    common = {
        "User-Agent": "Google-Cloud-Tasks",
        "X-CloudTasks-QueueName": "my-queue",
        "X-CloudTasks-TaskName": "task-1",
        "X-CloudTasks-TaskETA": "1721236265.266817",
    }
    assert worker_headers(request, second, authorization=None) == {
        **common,
        "X-CloudTasks-TaskRetryCount": "1",
        "X-CloudTasks-TaskExecutionCount": "0",
        "X-CloudTasks-TaskPreviousResponse": "503",
        "X-CloudTasks-TaskRetryReason": "",
    }
    assert worker_headers(request, third, authorization=None) == {
        **common,
        "X-CloudTasks-TaskRetryCount": "2",
        "X-CloudTasks-TaskExecutionCount": "1",
        "X-CloudTasks-TaskPreviousResponse": "404",
        "X-CloudTasks-TaskRetryReason": "",
    }


def test_a_previous_response_without_a_reason_still_sends_an_empty_reason() -> None:
    headers = worker_headers(
        HttpRequest(url="http://w/"),
        _context(retry_count=1, previous_response=500),
        authorization=None,
    )
    assert headers["X-CloudTasks-TaskRetryReason"] == ""


def test_a_retry_after_a_transport_failure_has_no_optional_headers() -> None:
    headers = worker_headers(
        HttpRequest(url="http://w/"), _context(retry_count=1), authorization=None
    )
    assert "X-CloudTasks-TaskPreviousResponse" not in headers
    assert "X-CloudTasks-TaskRetryReason" not in headers
    assert headers["X-CloudTasks-TaskRetryCount"] == "1"


def test_computed_reserved_and_replaced_headers_do_not_pass_through() -> None:
    request = HttpRequest(
        url="https://worker.example/run",
        headers={
            "Host": "evil.example",
            "content-length": "999",
            "user-agent": "mine/1.0",
            "authorization": "Bearer theirs",
            "X-CloudTasks-TaskName": "forged",
            "Accept": "*/*",
        },
    )
    assert worker_headers(request, _context(), authorization="Bearer ours") == {
        "Accept": "*/*",
        "User-Agent": "Google-Cloud-Tasks",
        "Authorization": "Bearer ours",
        "X-CloudTasks-QueueName": "my-queue",
        "X-CloudTasks-TaskName": "task-1",
        "X-CloudTasks-TaskRetryCount": "0",
        "X-CloudTasks-TaskExecutionCount": "0",
        "X-CloudTasks-TaskETA": "1721236265.266817",
    }


def test_the_tasks_authorization_passes_when_no_token_is_set() -> None:
    request = HttpRequest(url="http://w/", headers={"Authorization": "Basic abc"})
    assert worker_headers(request, _context(), authorization=None)["Authorization"] == "Basic abc"


@pytest.mark.parametrize(
    ("method", "name"),
    [
        (HttpMethod.HTTP_METHOD_UNSPECIFIED, "POST"),
        (HttpMethod.POST, "POST"),
        (HttpMethod.GET, "GET"),
        (HttpMethod.HEAD, "HEAD"),
        (HttpMethod.PUT, "PUT"),
        (HttpMethod.DELETE, "DELETE"),
        (HttpMethod.PATCH, "PATCH"),
        (HttpMethod.OPTIONS, "OPTIONS"),
    ],
)
def test_http_method_name(method: int, name: str) -> None:
    assert http_method_name(HttpRequest(url="http://w/", http_method=method)) == name


def test_outcome_success_is_2xx_only() -> None:
    assert AttemptOutcome(status=204, error="", elapsed_s=0.0).succeeded
    assert not AttemptOutcome(status=302, error="", elapsed_s=0.0).succeeded
    assert not AttemptOutcome(status=None, error="connection refused", elapsed_s=0.0).succeeded


# --- Sender against real servers --------------------------------------------------------------


@dataclass
class _Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int


@dataclass
class _Worker:
    base_url: str
    seen: list[_Seen] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


def _handler(worker: _Worker) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else each small response waits out a delayed ACK

        def _answer(self, status: int, body: bytes = b"ok", **headers: str) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            worker.seen.append(
                _Seen(
                    self.command,
                    self.path,
                    dict(self.headers.items()),
                    body,
                    self.client_address[1],
                )
            )
            if self.path == "/ok":
                self._answer(200)
            elif self.path == "/fail":
                self._answer(503, Retry_After="7")
            elif self.path == "/not-found":
                self._answer(404)
            elif self.path == "/redirect":
                self._answer(302, Location="/ok")
            elif self.path == "/redirect-loop":
                self._answer(302, Location="/redirect-loop")
            elif self.path == "/hang":
                worker.release.wait(30)
                self._answer(200)
            elif self.path == "/dribble":
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                for _ in range(1000):
                    if worker.release.wait(0.05):
                        break
                    self.wfile.write(b"x")
                    self.wfile.flush()
                self.close_connection = True
            elif self.path == "/dribble-headers":
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                for _ in range(1000):
                    if worker.release.wait(0.05):
                        break
                    self.wfile.write(b"X-Slow: 1\r\n")
                    self.wfile.flush()
                self.close_connection = True
            elif self.path == "/reset":
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
                self.wfile = BytesIO()  # nothing more goes out on the reset socket
                self.close_connection = True
            else:
                self._answer(500)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a worker writing to a client we cut off is what these tests do on purpose


@pytest.fixture(scope="module")
def worker() -> Iterator[_Worker]:
    state = _Worker(base_url="")
    server = _QuietServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def sender() -> Iterator[Sender]:
    instance = Sender(max_connections=4)
    try:
        yield instance
    finally:
        instance.close()


def _send(sender: Sender, url: str, *, deadline_s: float = 10.0, **kw: Any) -> AttemptOutcome:
    return sender.send(
        method=kw.get("method", "POST"),
        url=url,
        headers=kw.get("headers", {"User-Agent": "Google-Cloud-Tasks"}),
        body=kw.get("body", b"payload"),
        deadline_s=deadline_s,
    )


def test_a_200_succeeds_and_the_worker_gets_exactly_our_headers(
    sender: Sender, worker: _Worker
) -> None:
    request = HttpRequest(url=worker.base_url + "/ok", headers={"Content-Type": "application/json"})
    headers = worker_headers(request, _context(), authorization="Bearer abc")
    before = len(worker.seen)
    outcome = sender.send(
        method="POST", url=worker.base_url + "/ok", headers=headers, body=b'{"a":1}', deadline_s=10
    )
    assert outcome == AttemptOutcome(status=200, error="", elapsed_s=outcome.elapsed_s)
    assert outcome.succeeded
    (seen,) = worker.seen[before:]
    assert (seen.method, seen.path, seen.body) == ("POST", "/ok", b'{"a":1}')
    host = worker.base_url.removeprefix("http://")
    assert seen.headers == {
        "Host": host,
        "Accept-Encoding": "identity",
        "Content-Type": "application/json",
        "User-Agent": "Google-Cloud-Tasks",
        "Authorization": "Bearer abc",
        "X-CloudTasks-QueueName": "my-queue",
        "X-CloudTasks-TaskName": "task-1",
        "X-CloudTasks-TaskRetryCount": "0",
        "X-CloudTasks-TaskExecutionCount": "0",
        "X-CloudTasks-TaskETA": "1721236265.266817",
        "Content-Length": "7",
    }


def test_a_503_is_a_failed_attempt_with_its_retry_after(sender: Sender, worker: _Worker) -> None:
    outcome = _send(sender, worker.base_url + "/fail")
    assert (outcome.status, outcome.error, outcome.retry_after_s) == (503, "", 7.0)
    assert not outcome.succeeded


def test_a_404_is_a_response_not_an_error(sender: Sender, worker: _Worker) -> None:
    outcome = _send(sender, worker.base_url + "/not-found")
    assert (outcome.status, outcome.error, outcome.succeeded) == (404, "", False)


def test_get_sends_no_body(sender: Sender, worker: _Worker) -> None:
    before = len(worker.seen)
    outcome = _send(sender, worker.base_url + "/ok", method="GET", body=b"")
    assert outcome.status == 200
    (seen,) = worker.seen[before:]
    assert seen.method == "GET"
    assert "Content-Length" not in seen.headers


def test_connections_are_kept_alive_and_reused(sender: Sender, worker: _Worker) -> None:
    before = len(worker.seen)
    for _ in range(3):
        assert _send(sender, worker.base_url + "/ok").status == 200
    ports = {seen.client_port for seen in worker.seen[before:]}
    assert len(ports) == 1


def test_redirects_are_followed_to_the_redirected_worker(sender: Sender, worker: _Worker) -> None:
    before = len(worker.seen)
    outcome = _send(sender, worker.base_url + "/redirect")
    assert outcome.status == 200
    assert [seen.path for seen in worker.seen[before:]] == ["/redirect", "/ok"]


def test_endless_redirects_end_as_the_last_3xx(sender: Sender, worker: _Worker) -> None:
    outcome = _send(sender, worker.base_url + "/redirect-loop")
    assert (outcome.status, outcome.succeeded) == (302, False)


def test_a_hanging_worker_is_cut_off_at_the_deadline(sender: Sender, worker: _Worker) -> None:
    outcome = _send(sender, worker.base_url + "/hang", deadline_s=0.5)
    assert outcome.status is None
    assert outcome.error == "deadline exceeded after 0.5 s"
    assert 0.5 <= outcome.elapsed_s < 10


@pytest.mark.parametrize("path", ["/dribble", "/dribble-headers"])
def test_a_dribbling_worker_is_cut_off_at_the_deadline(
    sender: Sender, worker: _Worker, path: str
) -> None:
    outcome = _send(sender, worker.base_url + path, deadline_s=0.5)
    assert outcome.status is None
    assert outcome.error == "deadline exceeded after 0.5 s"
    assert 0.5 <= outcome.elapsed_s < 10  # the dribble lasts 50 s


def test_the_sender_still_works_after_a_cut_off(sender: Sender, worker: _Worker) -> None:
    assert _send(sender, worker.base_url + "/hang", deadline_s=0.3).status is None
    assert _send(sender, worker.base_url + "/ok").status == 200


def test_a_reset_connection_is_an_outcome(sender: Sender, worker: _Worker) -> None:
    outcome = _send(sender, worker.base_url + "/reset")
    assert (outcome.status, outcome.error) == (None, "connection reset")


def test_a_closed_port_is_connection_refused(sender: Sender) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    outcome = _send(sender, f"http://127.0.0.1:{port}/ok")
    assert (outcome.status, outcome.error) == (None, "connection refused")


def test_an_unresolvable_host_is_an_outcome(sender: Sender) -> None:
    outcome = _send(sender, "http://no-such-host.invalid/ok", deadline_s=5)
    assert outcome.status is None
    assert outcome.error.startswith("could not resolve the host")


def test_concurrent_sends_from_many_threads(sender: Sender, worker: _Worker) -> None:
    statuses: list[int | None] = []
    lock = threading.Lock()

    def run() -> None:
        mine = [_send(sender, worker.base_url + "/ok").status for _ in range(10)]
        with lock:
            statuses.extend(mine)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [200] * 80


def test_many_finished_attempts_leave_no_pending_deadlines(sender: Sender, worker: _Worker) -> None:
    for _ in range(200):
        assert _send(sender, worker.base_url + "/ok", deadline_s=600).status == 200
    watchdog = sender._watchdog
    assert watchdog._active == {}
    assert len(watchdog._heap) <= 65  # entries of finished attempts are dropped as they pile up


def test_no_content_type_is_added_on_the_wire(sender: Sender, worker: _Worker) -> None:
    headers = worker_headers(
        HttpRequest(url=worker.base_url + "/ok"), _context(), authorization=None
    )
    before = len(worker.seen)
    assert _send(sender, worker.base_url + "/ok", headers=headers, body=b"raw").status == 200
    (seen,) = worker.seen[before:]
    assert "Content-Type" not in seen.headers
    assert seen.headers["User-Agent"] == "Google-Cloud-Tasks"
