"""One dispatch attempt: the request production sends to the worker, and how it ended.

``worker_headers`` is pure: the task's headers as production rewrites them, plus the
``X-CloudTasks-*`` headers (values as captured from production, see README). ``Sender`` is the
only code here that touches the network: a pooled, keep-alive urllib3 client whose attempts are
bounded as a whole by the dispatch deadline, and whose every ending (a status, a refused or reset
connection, the deadline) is an ``AttemptOutcome``, never an exception.

Redirects are followed (up to ``MAX_REDIRECTS``): target.proto's HttpRequest says "If the worker
or the redirected worker acknowledges the task by returning a successful HTTP response code".
"""

from __future__ import annotations

import contextlib
import email.utils
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.client import RemoteDisconnected
from typing import TYPE_CHECKING

import urllib3
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    HTTPError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError

from tasks_emulator import api
from tasks_emulator.validation import METHODS_WITH_BODY, method_name

if TYPE_CHECKING:  # a Protocol urllib3 defines for type checkers only
    from urllib3._base_connection import BaseHTTPConnection

USER_AGENT = "Google-Cloud-Tasks"
MAX_REDIRECTS = 10
# Production computes these from the request, so the task's own values never reach the worker.
_COMPUTED_HEADERS = frozenset({"host", "content-length", "user-agent"})
_SERVICE_PREFIX = "x-cloudtasks-"
_READ_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class AttemptContext:
    """What the ``X-CloudTasks-*`` headers of one attempt say."""

    queue_id: str  # the short id, as X-CloudTasks-QueueName
    task_id: str  # the short id, as X-CloudTasks-TaskName
    retry_count: int  # attempts before this one
    execution_count: int  # earlier attempts that got a response other than 5xx
    eta_s: float  # the task's schedule_time, seconds since the epoch
    previous_response: int | None  # the status of the previous attempt, if it got one
    retry_reason: str | None  # production sends "" for HTTP targets


def http_method_name(http_request: api.HttpRequest) -> str:
    """The method of a raw ``HttpRequest``: its enum's name, POST when unspecified."""
    return method_name(http_request.http_method)


def worker_headers(
    http_request: api.HttpRequest, context: AttemptContext, *, authorization: str | None
) -> dict[str, str]:
    """The headers production sends for this attempt of a task with this raw ``HttpRequest``.

    The task's headers keep their names and values, except ``Host`` and ``Content-Length`` (the
    HTTP client computes them), ``User-Agent`` (``Google-Cloud-Tasks``), ``X-CloudTasks-*``
    (ours), and ``Authorization`` when a token is given. No ``Content-Type`` is added.
    ``X-CloudTasks-TaskPreviousResponse`` and ``-TaskRetryReason`` are sent on a retry after an
    HTTP response (``previous_response`` set), the reason as given or else empty, as production.
    """
    replaced = set(_COMPUTED_HEADERS)
    if authorization is not None:
        replaced.add("authorization")
    headers = {
        name: value
        for name, value in http_request.headers.items()
        if name.lower() not in replaced and not name.lower().startswith(_SERVICE_PREFIX)
    }
    headers["User-Agent"] = USER_AGENT
    if authorization is not None:
        headers["Authorization"] = authorization
    headers["X-CloudTasks-QueueName"] = context.queue_id
    headers["X-CloudTasks-TaskName"] = context.task_id
    headers["X-CloudTasks-TaskRetryCount"] = str(context.retry_count)
    headers["X-CloudTasks-TaskExecutionCount"] = str(context.execution_count)
    # Seconds with microseconds, as production sends it (e.g. "1721236265.266817").
    headers["X-CloudTasks-TaskETA"] = f"{context.eta_s:.6f}"
    if context.previous_response is not None:
        headers["X-CloudTasks-TaskPreviousResponse"] = str(context.previous_response)
    if context.previous_response is not None or context.retry_reason is not None:
        headers["X-CloudTasks-TaskRetryReason"] = context.retry_reason or ""
    return headers


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """How one attempt ended."""

    status: int | None  # None when no response (refused, reset, deadline)
    error: str  # "" on a response; else why, e.g. "deadline exceeded after 15.0 s"
    elapsed_s: float
    retry_after_s: float | None = None  # the worker's Retry-After, if it sent one

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


# --- The deadline watchdog -------------------------------------------------------------------
# A socket timeout bounds each read, not the attempt: a worker dribbling a byte a second would
# never time out. So one thread holds every attempt's deadline and, when one passes, shuts the
# attempt's socket down, which ends the blocked read at once.

_current = threading.local()  # the _Attempt the sending thread is running, if any


class _Attempt:
    """The connection an attempt is using, and whether its deadline has passed."""

    __slots__ = ("_lock", "conn", "expired")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.conn: BaseHTTPConnection | None = None
        self.expired = False

    def bind(self, conn: BaseHTTPConnection) -> None:
        with self._lock:
            self.conn = conn
            if self.expired:
                _shut_down(conn)

    def unbind(self) -> None:
        with self._lock:
            self.conn = None

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            if self.conn is not None:
                _shut_down(self.conn)


def _shut_down(conn: BaseHTTPConnection) -> None:
    sock: socket.socket | None = getattr(conn, "sock", None)  # urllib3's HTTPConnection has one
    if sock is None:
        return  # still connecting: the connect timeout (the deadline) bounds that
    # socket.socket's own shutdown: an SSLSocket's would drop its TLS state under the reader.
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """Expires attempts at their deadlines, from one daemon thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._active: dict[int, _Attempt] = {}
        self._seq = itertools.count()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="attempt-deadlines", daemon=True)
        self._thread.start()

    def watch(self, attempt: _Attempt, *, deadline_at: float) -> int:
        with self._cond:
            seq = next(self._seq)
            self._active[seq] = attempt
            heapq.heappush(self._heap, (deadline_at, seq))
            if len(self._heap) > 2 * len(self._active) + 64:
                # Finished attempts leave their entries behind; drop them now and then.
                self._heap = [entry for entry in self._heap if entry[1] in self._active]
                heapq.heapify(self._heap)
            if self._heap[0][1] == seq:
                self._cond.notify()
            return seq

    def unwatch(self, seq: int) -> None:
        with self._cond:
            self._active.pop(seq, None)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                if not self._heap:
                    self._cond.wait()
                    continue
                deadline_at, seq = self._heap[0]
                wait_s = deadline_at - time.monotonic()
                if wait_s > 0:
                    self._cond.wait(wait_s)
                    continue
                heapq.heappop(self._heap)
                attempt = self._active.pop(seq, None)
                if attempt is not None:
                    attempt.expire()


class _WatchedPoolMixin:
    """Tells the running attempt which connection it holds, until it is back in the pool."""

    def _get_conn(self, timeout: float | None = None) -> BaseHTTPConnection:
        conn: BaseHTTPConnection = super()._get_conn(timeout)  # type: ignore[misc]
        attempt: _Attempt | None = getattr(_current, "attempt", None)
        if attempt is not None:
            attempt.bind(conn)
        return conn

    def _put_conn(self, conn: BaseHTTPConnection | None) -> None:
        attempt: _Attempt | None = getattr(_current, "attempt", None)
        if attempt is not None:
            attempt.unbind()  # before another thread can take it from the pool
        super()._put_conn(conn)  # type: ignore[misc]


class _WatchedHTTPPool(_WatchedPoolMixin, HTTPConnectionPool):
    pass


class _WatchedHTTPSPool(_WatchedPoolMixin, HTTPSConnectionPool):
    pass


# --- Errors, translated once ------------------------------------------------------------------


def _causes(error: BaseException) -> Iterable[BaseException]:
    """The error, the errors it wraps (urllib3 puts them in args or reason), and their causes."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [arg for arg in current.args if isinstance(arg, BaseException)]
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            wrapped.append(reason)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                wrapped.append(linked)
        pending.extend(wrapped)


def _describe(error: BaseException, *, deadline_s: float) -> str:
    causes = list(_causes(error))
    if any(isinstance(cause, ConnectionRefusedError) for cause in causes):
        return "connection refused"
    if any(isinstance(cause, ConnectionResetError) for cause in causes):
        return "connection reset"
    if any(isinstance(cause, NameResolutionError) for cause in causes):
        return f"could not resolve the host: {error}"
    timeout_types = (Urllib3TimeoutError, TimeoutError, socket.timeout)
    if any(
        isinstance(cause, timeout_types) and not isinstance(cause, NewConnectionError)
        for cause in causes
    ):
        return f"deadline exceeded after {deadline_s:.1f} s"
    if any(isinstance(cause, RemoteDisconnected) for cause in causes):
        return "connection closed without a response"
    if any(isinstance(cause, SSLError) for cause in causes):
        return f"TLS error: {error}"
    if any(isinstance(cause, NewConnectionError) for cause in causes):
        return f"could not connect: {error}"
    if any(isinstance(cause, ProtocolError) for cause in causes):
        return f"connection broken: {error}"
    return f"{type(error).__name__}: {error}"


def _retry_after_s(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now: delay-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


class Sender:
    """Sends attempts over pooled keep-alive connections; thread-safe."""

    def __init__(self, *, max_connections: int) -> None:
        self._manager = urllib3.PoolManager(
            num_pools=64,
            maxsize=max(max_connections, 1),
            block=False,  # the dispatcher bounds concurrency; extra connections are not kept
        )
        self._manager.pool_classes_by_scheme = {
            "http": _WatchedHTTPPool,
            "https": _WatchedHTTPSPool,
        }
        self._watchdog = _Watchdog()

    def send(
        self, *, method: str, url: str, headers: dict[str, str], body: bytes, deadline_s: float
    ) -> AttemptOutcome:
        """Send one attempt; the whole of it (connect, send, wait, read) ends by ``deadline_s``."""
        started_s = time.monotonic()
        attempt = _Attempt()
        _current.attempt = attempt
        seq = self._watchdog.watch(attempt, deadline_at=started_s + deadline_s)
        try:
            status, retry_after = self._exchange(
                method=method, url=url, headers=headers, body=body, deadline_s=deadline_s
            )
        except (HTTPError, OSError) as e:
            error = (
                f"deadline exceeded after {deadline_s:.1f} s"
                if attempt.expired
                else _describe(e, deadline_s=deadline_s)
            )
            return AttemptOutcome(status=None, error=error, elapsed_s=time.monotonic() - started_s)
        finally:
            self._watchdog.unwatch(seq)
            attempt.unbind()
            _current.attempt = None
        elapsed_s = time.monotonic() - started_s
        if attempt.expired:
            # Cut off mid-response: what was read (say, headers ended by the shutdown) is no answer.
            return AttemptOutcome(
                status=None,
                error=f"deadline exceeded after {deadline_s:.1f} s",
                elapsed_s=elapsed_s,
            )
        return AttemptOutcome(
            status=status, error="", elapsed_s=elapsed_s, retry_after_s=_retry_after_s(retry_after)
        )

    def _exchange(
        self, *, method: str, url: str, headers: dict[str, str], body: bytes, deadline_s: float
    ) -> tuple[int, str | None]:
        retries = urllib3.Retry(
            total=None,
            connect=0,
            read=0,
            status=0,
            other=0,
            redirect=MAX_REDIRECTS,
            raise_on_redirect=False,
            raise_on_status=False,
        )
        # Failures surface as MaxRetryError wrapping the cause in .reason; _describe looks inside.
        response = self._manager.urlopen(
            method,
            url,
            body=body if body or method in METHODS_WITH_BODY else None,
            headers=headers,
            retries=retries,
            redirect=True,
            timeout=urllib3.Timeout(total=deadline_s),
            preload_content=False,
        )
        try:
            # Read the body to its end: a response only counts once it is whole.
            for _ in response.stream(_READ_CHUNK, decode_content=False):
                pass
        finally:
            response.release_conn()
        return response.status, response.headers.get("Retry-After")

    def close(self) -> None:
        """Stop the deadline thread and close every pooled connection."""
        self._watchdog.close()
        self._manager.clear()
