"""The recording worker: stands in for brain, testimonios, transcripciones and regresos.

An HTTP server on 127.0.0.1 (in a thread of the runner's process) that records every request
(method, path, headers, body, arrival time, the answer it gave and why) and answers:

- 401/403 when a ``CallerCheck`` is given and the request would not pass Cloud Run's IAM
  (see ``caller_check``); the verified claims are recorded with the request;
- 503 on the first attempt(s) of each task matching ``fail_first`` (a path or an idempotency
  key), so a retry can be watched;
- nothing for ``hold_s`` on the first attempt of each task matching ``hang`` (a worker slower
  than its deadline), then 200;
- 200 otherwise.

Tests and the demo wait on the records with a deadline.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bridge.stack.caller_check import CallerCheck, Verdict
from bridge.stack.poll import TimedOut, poll_until


@dataclass(frozen=True, slots=True)
class Received:
    """One request the worker received, and what it answered."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    received_at: float  # time.time()
    status: int = 200
    reason: str = ""  # why it was not 200
    claims: Mapping[str, Any] = field(default_factory=dict)  # the verified OIDC token's claims
    held_s: float = 0.0  # ``hang``: held this long before answering (the caller gave up first)

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    @property
    def ok(self) -> bool:
        """Answered 200 at once: a held request's caller is cut off by its deadline first."""
        return self.status == 200 and not self.held_s

    @property
    def task_id(self) -> str:
        return (self.header("X-CloudTasks-TaskName") or "").rsplit("/", 1)[-1]


def _matches(received: Received, match: str) -> bool:
    return match in (received.path, received.header("X-Idempotency-Key"))


class RecordingWorker:
    """Records every request; ``wait_for`` polls the records with a deadline."""

    def __init__(
        self,
        *,
        on_request: Callable[[Received], None] | None = None,
        check: CallerCheck | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self._records: list[Received] = []
        self._lock = threading.Lock()
        self._on_request = on_request
        self._log = log or (lambda _line: None)
        self.check = check
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="recording-worker", daemon=True
        )
        self._audiences: set[str] = {self.url("")}  # Cloud Run accepts its own URL
        self._fail_first: dict[str, int] = {}  # match -> attempts to fail per task
        self._hang: dict[str, float] = {}  # match -> hold_s of a task's first attempt
        self._attempts: dict[str, int] = {}  # task id -> attempts seen that got past IAM
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()  # hanging handlers give up
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- behaviour -----------------------------------------------------------------------

    def accept_audience(self, audience: str) -> None:
        """Accept tokens for ``audience`` too (as a Cloud Run custom audience would)."""
        with self._lock:
            self._audiences.add(audience)

    def audiences(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._audiences)

    def fail_first(self, match: str, *, attempts: int = 1) -> None:
        """Answer 503 to the first ``attempts`` attempts of every task whose path or idempotency
        key is ``match``."""
        with self._lock:
            self._fail_first[match] = attempts

    def hang(self, match: str, *, hold_s: float) -> None:
        """Hold the first attempt of every task whose path or key is ``match`` for ``hold_s``
        before answering 200 (later attempts are answered at once)."""
        with self._lock:
            self._hang[match] = hold_s

    # -- records -------------------------------------------------------------------------

    def records(self) -> list[Received]:
        with self._lock:
            return list(self._records)

    def wait_for(
        self, predicate: Callable[[Received], bool], *, count: int = 1, timeout_s: float = 20.0
    ) -> list[Received]:
        """At least ``count`` records matching ``predicate``; ``TimedOut`` at the deadline."""
        matching: list[Received] = []

        def enough() -> bool:
            matching[:] = [r for r in self.records() if predicate(r)]
            return len(matching) >= count

        try:
            poll_until(enough, timeout_s=timeout_s, what=f"{count} matching request(s)")
        except TimedOut as e:
            raise TimedOut(
                f"{e}: the worker received {len(matching)}; all it received: "
                f"{[(r.path, r.status) for r in self.records()]}"
            ) from e
        return matching

    def _decide(self, received: Received) -> tuple[Verdict, float]:
        """The answer (and how long to hold it) for one request."""
        verdict = Verdict(200)
        if self.check is not None:
            verdict = self.check.check(received.header("Authorization"), audiences=self.audiences())
            if not verdict.allowed:
                return verdict, 0.0
        with self._lock:
            seen = self._attempts.get(received.task_id, 0)
            self._attempts[received.task_id] = seen + 1
            failing = max(
                (n for m, n in self._fail_first.items() if _matches(received, m)), default=0
            )
            hold_s = max((s for m, s in self._hang.items() if _matches(received, m)), default=0)
        if seen < failing:
            reason = f"fail_first: attempt {seen + 1} of the {failing} that fail"
            return Verdict(503, reason, verdict.claims), 0.0
        return verdict, hold_s if seen == 0 else 0.0

    def _record(self, received: Received) -> None:
        with self._lock:
            self._records.append(received)
        if not received.ok:
            self._log(
                f"{time.strftime('%H:%M:%S')} {received.status} {received.method} "
                f"{received.path} task {received.task_id or '-'}: {received.reason}"
            )
        if self._on_request:
            self._on_request(received)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        worker = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                received = Received(
                    method=self.command,
                    path=self.path,
                    headers=tuple(self.headers.items()),
                    body=body,
                    received_at=time.time(),
                )
                verdict, hold_s = worker._decide(received)
                worker._record(
                    replace(
                        received,
                        status=verdict.status,
                        reason=verdict.reason or (f"held {hold_s:g} s" if hold_s else ""),
                        claims=verdict.claims,
                        held_s=hold_s,
                    )
                )
                if hold_s and worker._stopping.wait(hold_s):
                    return
                answer = json.dumps(
                    {"ok": verdict.allowed, "reason": verdict.reason or None}
                ).encode()
                try:
                    self.send_response(verdict.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the caller gave up (its deadline): nothing to answer to

            do_POST = do_PUT = do_GET = _handle

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: the records are the log

        return Handler
