"""Test doubles that ship with the bridge: a scripted Cloud Tasks gateway, a recording sink, and
a Starlette request built by hand (the body can be chunked, the headers can lie).

For unit tests of one module only; the end-to-end suite runs the real emulators.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from bridge.errors import BridgeError, TransientError
from bridge.gateway import CreateResult
from bridge.limits import MAX_MESSAGE_BYTES
from bridge.logs import TaskState
from bridge.plan import TaskSpec
from bridge.rejections import OutgoingMessage, message_size, pubsub_problem


@dataclass
class FakeGateway:
    """Creates tasks in memory, answering duplicates like Cloud Tasks (by name).

    ``errors`` are raised, in order, by the next calls to ``create``.
    """

    errors: list[BridgeError] = field(default_factory=list)
    created: dict[str, TaskSpec] = field(default_factory=dict)
    calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def create(self, spec: TaskSpec) -> CreateResult:
        with self._lock:
            self.calls += 1
            if self.errors:
                raise self.errors.pop(0)
            duplicate = spec.task_name in self.created
            self.created.setdefault(spec.task_name, spec)
            state = TaskState.PENDING if duplicate else None  # it never runs a task
            return CreateResult(task_name=spec.task_name, duplicate=duplicate, task_state=state)


@dataclass
class RecordingSink:
    """Keeps rejections; ``fail_next`` makes the next ones fail as a Pub/Sub outage would.

    Like Pub/Sub, it refuses a message it could not publish (too many or too long attributes,
    strings that are not UTF-8): the real sink would then fail the same way, forever.
    """

    rejected: list[OutgoingMessage] = field(default_factory=list)
    fail_next: int = 0

    async def reject_async(self, message: OutgoingMessage) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise TransientError(code="UNAVAILABLE", detail="rejected topic unavailable (test)")
        problem = pubsub_problem(message)
        if message_size(message) > MAX_MESSAGE_BYTES:
            problem = f"{message_size(message)} bytes, over one publish request"
        if problem:
            raise TransientError(
                code="INVALID_ARGUMENT", detail=f"Pub/Sub would refuse it: {problem}"
            )
        self.rejected.append(message)


@dataclass
class RequestBody:
    """An ASGI request body in ``chunks``; ``read_bytes`` counts what the app pulled of it."""

    chunks: Sequence[bytes]
    read_bytes: int = 0
    _next: int = 0

    async def receive(self) -> dict[str, Any]:
        if self._next >= len(self.chunks):
            return {"type": "http.request", "body": b"", "more_body": False}
        chunk = self.chunks[self._next]
        self._next += 1
        self.read_bytes += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": self._next < len(self.chunks)}


def starlette_request(
    body: RequestBody | bytes,
    *,
    path: str = "/enqueue",
    method: str = "POST",
    headers: Mapping[str, str] | None = None,
) -> Request:
    """A request as uvicorn hands it to the app (headers as given: none is added)."""
    source = body if isinstance(body, RequestBody) else RequestBody([body])
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()
        ],
        "scheme": "http",
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 1),
        "root_path": "",
    }
    return Request(scope, source.receive)
