"""The recording worker: stands in for brain, testimonios, transcripciones and regresos.

An HTTP server on 127.0.0.1 (in a thread of the runner's process) that answers 200 to every
request and records it: method, path, headers, body, arrival time. Tests and the demo wait on the
records with a deadline.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True, slots=True)
class Received:
    """One request the worker received."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    received_at: float  # time.time()

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


class RecordingWorker:
    """Records every request; ``wait_for`` polls the records with a deadline."""

    def __init__(self, *, on_request: Callable[[Received], None] | None = None) -> None:
        self._records: list[Received] = []
        self._lock = threading.Lock()
        self._on_request = on_request
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="recording-worker", daemon=True
        )

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def records(self) -> list[Received]:
        with self._lock:
            return list(self._records)

    def wait_for(
        self, predicate: Callable[[Received], bool], *, count: int = 1, timeout_s: float = 20.0
    ) -> list[Received]:
        """At least ``count`` records matching ``predicate``; AssertionError at the deadline."""
        deadline = time.monotonic() + timeout_s
        while True:
            matching = [r for r in self.records() if predicate(r)]
            if len(matching) >= count or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        if len(matching) < count:
            raise AssertionError(
                f"worker received {len(matching)} matching request(s), wanted {count}, "
                f"within {timeout_s:.0f} s; all it received: {[r.path for r in self.records()]}"
            )
        return matching

    def _record(self, received: Received) -> None:
        with self._lock:
            self._records.append(received)
        if self._on_request:
            self._on_request(received)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        worker = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                worker._record(
                    Received(
                        method=self.command,
                        path=self.path,
                        headers=tuple(self.headers.items()),
                        body=body,
                        received_at=time.time(),
                    )
                )
                answer = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_POST = do_PUT = do_GET = _handle

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: the records are the log

        return Handler
