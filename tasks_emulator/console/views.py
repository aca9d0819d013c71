"""What the console's pages show, as plain JSON-ready dicts read from the store.

Reads only: copies taken under the store's lock (``Store.all_queues``, ``peek_tasks``,
``reserved_in``, ``get_task``), nothing parsed but the page shown. A queue's tasks are in one of
four states, as a Cloud Tasks user thinks of them:

    pending    never dispatched yet (due now, or scheduled later)
    in_flight  an attempt is running now
    retrying   dispatched before and failed; waits for its next attempt
    reserved   gone (ran, gave up, deleted or purged): the name stays taken for a while
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypedDict

from tasks_emulator import api
from tasks_emulator.attempt import http_method_name
from tasks_emulator.store import Store, TaskPeek
from tasks_emulator.validation import seconds

STATES = ("pending", "in_flight", "retrying", "reserved")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
# Cloud Console's "executed in the last minute" window.
RECENT_WINDOW_S = 60.0
_QUEUE_STATES = {0: "unspecified", 1: "running", 2: "paused", 3: "disabled"}
# A large queue's page sorts and scans every task: C-level keys, not lambdas.
_DUE_S = operator.attrgetter("due_s")
_DUE_THEN_NAME = operator.attrgetter("due_s", "name")


class NotFoundError(LookupError):
    """Raised if the queue or task a page names does not exist (any more)."""


class BadQueryError(ValueError):
    """Raised if a page's query (state, offset, limit) is not one the console serves."""


@dataclass(frozen=True, slots=True)
class Page:
    state: str
    offset: int
    limit: int


TaskState = Literal["pending", "in_flight", "retrying"]  # a live task's (STATES but "reserved")


def state_of(peek: TaskPeek) -> TaskState:
    if peek.in_flight:
        return "in_flight"
    return "retrying" if peek.attempted else "pending"


def short_id(name: str) -> str:
    return name.rsplit("/", 1)[-1]


class QueueRow(TypedDict):
    """One line of the queue list (JSON for the page)."""

    name: str
    id: str
    location: str
    state: str
    tasks: int
    max_rate_per_s: float
    max_burst: int
    max_concurrent: int
    max_attempts: int
    oldest_task_s: float | None
    finished_last_minute: int
    in_flight: int
    counts: dict[str, int]


class QueuesView(TypedDict):
    now_s: float
    queues: list[QueueRow]


class TaskRow(TypedDict):
    """One live task of a queue's page."""

    name: str
    id: str
    state: TaskState
    schedule_time_s: float
    create_time_s: float
    dispatch_count: int
    response_count: int
    last_response_code: int | None
    last_response_status: str | None
    last_response_time_s: float | None
    method: str
    url: str


class ReservedRow(TypedDict):
    """One reserved name of a queue's page."""

    name: str
    id: str
    state: Literal["reserved"]
    reserved_at_s: float


class QueuePage(TypedDict):
    now_s: float
    queue: QueueRow
    state: str
    offset: int
    limit: int
    total: int
    tasks: list[TaskRow] | list[ReservedRow]


def queue_row(
    queue: api.Queue,
    *,
    store: Store,
    now_s: float,
    peeks: Sequence[TaskPeek] | None = None,
    reserved: Sequence[tuple[str, float]] | None = None,
) -> QueueRow:
    """One line of the queue list, with the Cloud Console's columns (from ``peeks`` and
    ``reserved`` when the caller has read them already)."""
    if peeks is None:
        peeks = store.peek_tasks(queue.name)
    if reserved is None:
        reserved = store.reserved_in(queue.name, now_s=now_s)
    counts = _counts(peeks, reserved)
    return {
        "name": queue.name,
        "id": short_id(queue.name),
        "location": queue.name.split("/queues/")[0],
        "state": _QUEUE_STATES.get(int(queue.state), "unspecified"),
        "tasks": len(peeks),
        "max_rate_per_s": queue.rate_limits.max_dispatches_per_second,
        "max_burst": queue.rate_limits.max_burst_size,
        "max_concurrent": queue.rate_limits.max_concurrent_dispatches,
        "max_attempts": queue.retry_config.max_attempts,
        "oldest_task_s": min(map(_DUE_S, peeks), default=None),
        "finished_last_minute": sum(1 for _, at_s in reserved if at_s >= now_s - RECENT_WINDOW_S),
        "in_flight": counts["in_flight"],
        "counts": counts,
    }


def _counts(peeks: Sequence[TaskPeek], reserved: Sequence[tuple[str, float]]) -> dict[str, int]:
    counts = dict.fromkeys(STATES, 0)
    for peek in peeks:
        counts[state_of(peek)] += 1
    counts["reserved"] = len(reserved)
    return counts


def queues(*, store: Store, now_s: float) -> QueuesView:
    return {
        "now_s": now_s,
        "queues": [queue_row(q, store=store, now_s=now_s) for q in store.all_queues()],
    }


def parse_page(*, state: str, offset: str, limit: str) -> Page:
    if state not in STATES:
        raise BadQueryError(f"state must be one of {', '.join(STATES)}, not {state!r}")
    try:
        offset_n, limit_n = int(offset or 0), int(limit or DEFAULT_PAGE_SIZE)
    except ValueError as e:
        raise BadQueryError("offset and limit must be whole numbers") from e
    if offset_n < 0 or not 1 <= limit_n <= MAX_PAGE_SIZE:
        raise BadQueryError(f"offset must be 0 or more, limit between 1 and {MAX_PAGE_SIZE}")
    return Page(state=state, offset=offset_n, limit=limit_n)


def task_row(task: api.Task, peek: TaskPeek) -> TaskRow:
    last = task.last_attempt if task.HasField("last_attempt") else None
    status = last.response_status if last is not None and last.HasField("response_status") else None
    return {
        "name": task.name,
        "id": short_id(task.name),
        "state": state_of(peek),
        "schedule_time_s": seconds(task.schedule_time),
        "create_time_s": seconds(task.create_time),
        "dispatch_count": task.dispatch_count,
        "response_count": task.response_count,
        "last_response_code": peek.previous_response,
        "last_response_status": None if status is None else status.message,
        "last_response_time_s": (
            seconds(last.response_time)
            if last is not None and last.HasField("response_time")
            else None
        ),
        "method": http_method_name(task.http_request),
        "url": task.http_request.url,
    }


def queue_page(name: str, page: Page, *, store: Store, now_s: float) -> QueuePage:
    """A queue's tasks in one state, ``page.limit`` of them from ``page.offset``: soonest due
    first (reserved names: most recently reserved first)."""
    queue = store.get_queue(name)
    if queue is None:
        raise NotFoundError(f"queue {name} does not exist")
    peeks = store.peek_tasks(name)
    reserved = store.reserved_in(name, now_s=now_s)
    row = queue_row(queue, store=store, now_s=now_s, peeks=peeks, reserved=reserved)
    rows: list[TaskRow] | list[ReservedRow]
    if page.state == "reserved":
        reserved = sorted(reserved, key=lambda r: (-r[1], r[0]))
        total = len(reserved)
        rows = [
            ReservedRow(name=n, id=short_id(n), state="reserved", reserved_at_s=at_s)
            for n, at_s in reserved[page.offset : page.offset + page.limit]
        ]
    else:
        chosen = [p for p in peeks if state_of(p) == page.state]
        chosen.sort(key=_DUE_THEN_NAME)
        total = len(chosen)
        task_rows: list[TaskRow] = []
        for peek in chosen[page.offset : page.offset + page.limit]:
            task = store.get_task(peek.name)
            if task is not None:  # it may have finished since the peek
                task_rows.append(task_row(task, peek))
        rows = task_rows
    return {
        "now_s": now_s,
        "queue": row,
        "state": page.state,
        "offset": page.offset,
        "limit": page.limit,
        "total": total,
        "tasks": rows,
    }
