"""Long-running operations (``google.longrunning.Operation``): the batches' records and runner.

An operation is registered RUNNING and returned as such; its work runs on one thread of its own,
in the order the operations were started, and then the operation is done, with its response or
its error. A ``request_id`` seen before (for the same kind of operation: a batch of the same
queue) returns the operation it started instead of starting another. Operations live in memory:
at most ``MAX_DONE_OPERATIONS`` finished ones are kept (the oldest go first), none survives a
restart.
"""

from __future__ import annotations

import collections
import logging
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
from google.protobuf.message import Message

from tasks_emulator import api

_log = logging.getLogger(__name__)

MAX_DONE_OPERATIONS = 1000


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an operation's work ends with: the final metadata and a response or an error."""

    metadata: Message
    response: Message | None = None
    error: api.Status | None = None


class UnknownOperation(Exception):
    """Raised if an operation name is not (or no longer) known."""


class Operations:
    """The operations of every location, by name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._operations: dict[str, api.Operation] = {}
        self._by_request: dict[tuple[str, str, str], str] = {}
        self._request_of: dict[str, tuple[str, str, str]] = {}
        self._done_order: collections.deque[str] = collections.deque()
        self._running = 0
        self._runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tasks-emulator-ops")

    def start(
        self,
        *,
        location: str,
        kind: str,
        request_id: str,
        metadata: Message,
        work: Callable[[], Outcome],
        failed: Callable[[], Message],
    ) -> api.Operation:
        """A copy of the new operation, RUNNING (or of the one ``request_id`` started before).

        ``work`` runs later on the operations' thread; ``failed`` gives the metadata to record if
        it raises (a bug: the operation ends FAILED with INTERNAL)."""
        key = (kind, location, request_id)
        with self._lock:
            if request_id and key in self._by_request:
                return api.copy_of(self._operations[self._by_request[key]])
            name = f"{location}/operations/{secrets.token_hex(16)}"
            operation = api.Operation(name=name, done=False)
            operation.metadata.Pack(metadata)
            self._operations[name] = operation
            if request_id:
                self._by_request[key] = name
                self._request_of[name] = key
            self._running += 1
            started = api.copy_of(operation)
        self._runner.submit(self._run, name, work, failed)
        return started

    def _run(self, name: str, work: Callable[[], Outcome], failed: Callable[[], Message]) -> None:
        try:
            outcome = work()
        except Exception:  # a bug in the work: the operation says so rather than hanging
            _log.exception("operation %s failed", name)
            outcome = Outcome(
                metadata=failed(),
                error=api.Status(code=grpc.StatusCode.INTERNAL.value[0], message="Internal error."),
            )
        with self._lock:
            self._running -= 1
            operation = self._operations.get(name)
            if operation is None:  # deleted (or reset) while it ran
                return
            operation.metadata.Pack(outcome.metadata)
            if outcome.error is not None:
                operation.error.CopyFrom(outcome.error)
            elif outcome.response is not None:
                operation.response.Pack(outcome.response)
            operation.done = True
            self._done_order.append(name)
            while len(self._done_order) > MAX_DONE_OPERATIONS:
                self._forget(self._done_order.popleft())

    def _forget(self, name: str) -> None:
        self._operations.pop(name, None)
        key = self._request_of.pop(name, None)
        if key is not None:
            self._by_request.pop(key, None)

    def get(self, name: str) -> api.Operation:
        with self._lock:
            operation = self._operations.get(name)
            if operation is None:
                raise UnknownOperation(name)
            return api.copy_of(operation)

    def names_in(self, location: str) -> list[str]:
        prefix = location + "/operations/"
        with self._lock:
            return sorted(name for name in self._operations if name.startswith(prefix))

    def delete(self, name: str) -> None:
        with self._lock:
            if name not in self._operations:
                raise UnknownOperation(name)
            self._forget(name)
            if name in self._done_order:
                self._done_order.remove(name)

    def running(self) -> int:
        """How many operations have not finished."""
        with self._lock:
            return self._running

    def drain(self) -> None:
        """Return once every operation started so far has finished."""
        self._runner.submit(lambda: None).result()

    def reset(self) -> None:
        """Forget every operation (those running finish first)."""
        self.drain()
        with self._lock:
            self._operations.clear()
            self._by_request.clear()
            self._request_of.clear()
            self._done_order.clear()

    def close(self) -> None:
        """Finish the operations started; start no more."""
        self._runner.shutdown(wait=True)
