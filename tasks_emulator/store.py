"""The emulator's state: queues, tasks, reserved task and queue names.

Everything lives in memory (dicts, and per queue a heap of ``(due_s, generation, name)`` that is
invalidated lazily); with a data directory every change is also written through to disk
(``persistence``) and loaded again at start. One lock guards the memory; a change is committed
before its method returns, whole in one transaction, concurrent changes sharing one (group commit).

Durability: a finished attempt is recorded (a success deletes the task and reserves its name in
one transaction) before the dispatcher counts it done, so a clean stop loses nothing and never
runs a 2xx again. The start of an attempt is not written: after a kill -9 the attempts in flight
run again, as production's at-least-once delivery allows. An attempt is in flight from the moment
it is taken until its outcome is committed, which includes the moment between the worker's 2xx
arriving and its commit: a task the worker had already answered 2xx may run again after a kill -9
(at most ``max_concurrent_dispatches`` per queue, the attempts that can be in flight at once).
"""

from __future__ import annotations

import collections
import functools
import heapq
import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Concatenate, NamedTuple, ParamSpec, TypeVar

from tasks_emulator import api
from tasks_emulator.persistence import Changes, Persistence, TaskRow
from tasks_emulator.validation import seconds, set_seconds

# Expired name reservations are deleted from disk this many at a time.
EXPIRED_ROWS_PER_DELETE = 1000
# cloud-tasks-dispatch.md: a deleted queue's name cannot be used again for 7 days.
QUEUE_NAME_RESERVE_S = 7 * 24 * 3600


@dataclass(slots=True)
class TaskRecord:
    """A live task and the bookkeeping production keeps out of the Task message.

    The task is kept serialized (less memory than the message object); an attempt in flight
    holds it parsed, as ``live``, until its outcome is recorded.
    """

    data: bytes  # the serialized Task, body included, as of its last recorded change
    queue: str
    due_s: float  # when it may be dispatched next
    first_attempt_s: float = 0.0  # 0 until dispatched: max_retry_duration counts from here
    execution_count: int = 0  # earlier attempts answered with anything but a 5xx
    previous_response: int | None = None  # HTTP status of the previous attempt, if it had one
    live: api.Task | None = None  # the Task an attempt in flight holds (counters updated)
    # Tells a re-created task from the one an attempt started with; the row id in SQLite
    # (integer keys append where random task names would scatter inserts over the B-tree).
    generation: int = 0


@dataclass(frozen=True, slots=True)
class Taken:
    """A task handed to the dispatcher: what the attempt needs, read while no one else writes."""

    name: str
    queue: str
    generation: int
    task: api.Task  # the record's Task; only the attempt that holds it mutates it (via the store)
    retry_count: int  # attempts before this one
    execution_count: int
    previous_response: int | None
    first_attempt_s: float


class TaskPeek(NamedTuple):
    """One live task as the console lists it (``Store.peek_tasks``); a tuple: 10,000 of them
    are made per look at a large queue, and a frozen dataclass costs several times as much."""

    name: str
    due_s: float
    attempted: bool  # dispatched at least once (a retry waits, or an attempt is in flight)
    in_flight: bool
    execution_count: int
    previous_response: int | None


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _durable(method: Callable[Concatenate[Store, _P], _R]) -> Callable[Concatenate[Store, _P], _R]:
    """A store method whose change is committed (with a data dir) before it returns."""

    @functools.wraps(method)
    def durable(self: Store, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        result = method(self, *args, **kwargs)
        self._flush()
        return result

    return durable


class Store:
    def __init__(self, *, data_dir: Path | None, name_reserve_s: float) -> None:
        self._lock = threading.RLock()
        self._name_reserve_s = name_reserve_s
        self._queues: dict[str, api.Queue] = {}
        self._tasks: dict[str, TaskRecord] = {}
        self._by_queue: dict[str, set[str]] = {}
        self._heaps: dict[str, list[tuple[float, int, str]]] = {}
        self._reserved: dict[str, float] = {}  # task name -> expiry_s
        self._reserved_order: collections.deque[tuple[float, str]] = collections.deque()
        self._reserved_queues: dict[str, float] = {}
        self._cmek_configs: dict[str, api.CmekConfig] = {}
        self._iam_policies: dict[str, bytes] = {}  # queue -> serialized google.iam.v1.Policy
        self._expired_in_db = 0  # expired reservations whose rows are still on disk
        self._generations = itertools.count(1)
        self._disk: Persistence | None = None
        if data_dir is not None:
            self._disk = Persistence(data_dir)
            self._load(self._disk)

    # --- persistence -------------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[Changes | None]:
        """Collect one change for the disk (when persistent); the caller holds the lock and,
        once it has released it, waits for the commit (``_durable``)."""
        disk = self._disk
        if disk is None:
            yield None
            return
        changes = Changes()
        yield changes
        disk.submit(changes)

    def _flush(self) -> None:
        """Commit every change collected so far (``Persistence.flush``)."""
        disk = self._disk
        if disk is not None:
            disk.flush()

    def _load(self, disk: Persistence) -> None:
        for name, pb in disk.rows_of_queues():
            self._queues[name] = api.Queue.FromString(pb)
            self._by_queue[name] = set()
            self._heaps[name] = []
        last_id = 0
        for row in disk.rows_of_tasks():
            record = TaskRecord(
                data=row.data,
                queue=row.queue,
                due_s=row.due_s,
                first_attempt_s=row.first_attempt_s,
                execution_count=row.execution_count,
                previous_response=row.previous_response,
                generation=row.generation,
            )
            self._insert(row.name, record)
            last_id = max(last_id, row.generation)
        self._generations = itertools.count(last_id + 1)
        for name, expiry_s in disk.rows_of_reserved_tasks():
            self._reserved[name] = expiry_s
            self._reserved_order.append((expiry_s, name))
        for name, expiry_s in disk.rows_of_reserved_queues():
            self._reserved_queues[name] = expiry_s
        for name, pb in disk.rows_of_cmek_configs():
            self._cmek_configs[name] = api.CmekConfig.FromString(pb)
        for name, pb in disk.rows_of_iam_policies():
            self._iam_policies[name] = pb

    @_durable
    def reset(self) -> None:
        """Forget everything: queues, tasks, reserved task and queue names, IAM policies, CMEK
        configs.

        Attempts in flight end as for a deleted task: their outcome is not recorded."""
        with self._lock, self._write() as db:
            if db is not None:
                db.clear()
            self._queues.clear()
            self._tasks.clear()
            self._by_queue.clear()
            self._heaps.clear()
            self._reserved.clear()
            self._reserved_order.clear()
            self._reserved_queues.clear()
            self._cmek_configs.clear()
            self._iam_policies.clear()
            self._expired_in_db = 0

    def close(self) -> None:
        """Commit what is pending and close the file (changes from now on stay in memory)."""
        with self._lock:
            disk, self._disk = self._disk, None
        if disk is not None:
            disk.close()

    # --- queues ------------------------------------------------------------------------------
    def get_queue(self, name: str) -> api.Queue | None:
        """A copy of the queue, or None."""
        with self._lock:
            queue = self._queues.get(name)
            return None if queue is None else api.copy_of(queue)

    def queue_state(self, name: str) -> int | None:
        """The queue's state (queue.proto Queue.State), or None if there is no such queue."""
        with self._lock:
            queue = self._queues.get(name)
            return None if queue is None else int(queue.state)

    def http_target_of(self, name: str) -> api.HttpTarget | None:
        """A copy of the queue's ``http_target`` if it has one (the dispatcher applies it)."""
        with self._lock:
            queue = self._queues.get(name)
            if queue is None or not queue.HasField("http_target"):
                return None
            return api.copy_of(queue.http_target)

    def list_queues(self, parent: str) -> list[api.Queue]:
        prefix = parent + "/queues/"
        with self._lock:
            return [
                api.copy_of(self._queues[name])
                for name in sorted(self._queues)
                if name.startswith(prefix)
            ]

    def queue_names(self) -> list[str]:
        with self._lock:
            return sorted(self._queues)

    def queue_name_reserved(self, name: str, *, now_s: float) -> bool:
        with self._lock:
            return self._reserved_queues.get(name, 0.0) > now_s

    @_durable
    def put_queue(self, queue: api.Queue) -> None:
        """Create or replace a queue (its tasks stay)."""
        with self._lock, self._write() as db:
            if db is not None:
                db.save_queue(queue.name, queue.SerializeToString())
            self._queues[queue.name] = api.copy_of(queue)
            self._by_queue.setdefault(queue.name, set())
            self._heaps.setdefault(queue.name, [])

    @_durable
    def delete_queue(self, name: str, *, now_s: float) -> bool:
        """Delete a queue and its tasks; its name stays reserved. False if there was none."""
        with self._lock:
            if name not in self._queues:
                return False
            with self._write() as db:
                expiry_s = now_s + QUEUE_NAME_RESERVE_S
                if db is not None:
                    db.delete_queue(name, reserved_until_s=expiry_s)
                for task_name in self._by_queue.pop(name, set()):
                    del self._tasks[task_name]
                del self._queues[name]
                self._iam_policies.pop(name, None)
                self._heaps.pop(name, None)
                self._reserved_queues[name] = expiry_s
            return True

    @_durable
    def purge_queue(self, name: str, *, now_s: float) -> int:
        """Delete every task of the queue, reserving their names; how many there were."""
        with self._lock:
            names = list(self._by_queue.get(name, ()))
            with self._write() as db:
                self._reserve(db, names, now_s=now_s)
                if db is not None:
                    db.delete_tasks_of(name)
                for task_name in names:
                    del self._tasks[task_name]
                self._by_queue[name] = set()
                self._heaps[name] = []
            return len(names)

    def queue_limits(self) -> list[tuple[str, api.Queue]]:
        """(name, the queue message itself) for every queue that may have a task to dispatch
        (its heap is not empty); the caller only reads the messages."""
        with self._lock:
            return [(name, queue) for name, queue in self._queues.items() if self._heaps.get(name)]

    # --- tasks -------------------------------------------------------------------------------
    @_durable
    def add_task(self, name: str, *, queue: str, task: api.Task, now_s: float) -> bool:
        """Add a task due at its schedule_time; False if the name is live or reserved."""
        with self._lock:
            if name in self._tasks or self._is_reserved(name, now_s=now_s):
                return False
            record = TaskRecord(
                data=task.SerializeToString(),
                queue=queue,
                due_s=seconds(task.schedule_time),
                generation=next(self._generations),
            )
            with self._write() as db:
                if db is not None:
                    db.save_task(_row_of(name, record))
                self._insert(name, record)
            return True

    def _insert(self, name: str, record: TaskRecord) -> None:
        self._tasks[name] = record
        self._by_queue.setdefault(record.queue, set()).add(name)
        heapq.heappush(
            self._heaps.setdefault(record.queue, []), (record.due_s, record.generation, name)
        )

    def get_task(self, name: str) -> api.Task | None:
        """A copy of the live task, or None."""
        with self._lock:
            record = self._tasks.get(name)
            return None if record is None else _task_of(record)

    def recently_existed(self, name: str, *, now_s: float) -> bool:
        with self._lock:
            return self._is_reserved(name, now_s=now_s)

    def list_tasks(self, queue: str, *, after: str, limit: int) -> tuple[list[api.Task], bool]:
        """Copies of up to ``limit`` tasks named after ``after`` in name order; whether more."""
        with self._lock:
            names = self._by_queue.get(queue, set())
            later = (name for name in names if name > after) if after else iter(names)
            # One more than a page tells whether there are more; a heap beats sorting them all.
            page = heapq.nsmallest(limit + 1, later)
            tasks = [_task_of(self._tasks[name]) for name in page[:limit]]
            return tasks, len(page) > limit

    @_durable
    def delete_task(self, name: str, *, now_s: float) -> bool:
        """Delete a live task and reserve its name; False if there was none."""
        with self._lock:
            if name not in self._tasks:
                return False
            with self._write() as db:
                self._remove(db, name, now_s=now_s)
            return True

    def _remove(self, db: Changes | None, name: str, *, now_s: float) -> None:
        record = self._tasks.pop(name)
        self._by_queue[record.queue].discard(name)
        self._reserve(db, [name], now_s=now_s)
        if db is not None:
            db.delete_task(record.generation)

    # --- reserved names ----------------------------------------------------------------------
    def _is_reserved(self, name: str, *, now_s: float) -> bool:
        return self._reserved.get(name, 0.0) > now_s

    def _reserve(self, db: Changes | None, names: list[str], *, now_s: float) -> None:
        self._expire_reserved(db, now_s=now_s)
        expiry_s = now_s + self._name_reserve_s
        for name in names:
            self._reserved[name] = expiry_s
            self._reserved_order.append((expiry_s, name))
        if db is not None:
            db.reserve_task_names(names, until_s=expiry_s)

    def _expire_reserved(self, db: Changes | None, *, now_s: float) -> None:
        while self._reserved_order and self._reserved_order[0][0] <= now_s:
            expiry_s, name = self._reserved_order.popleft()
            if self._reserved.get(name) == expiry_s:
                del self._reserved[name]
                self._expired_in_db += 1
        # Expired rows left on disk are harmless (loaded, they are expired still): they are
        # deleted in batches, not one statement per name.
        if db is not None and self._expired_in_db >= EXPIRED_ROWS_PER_DELETE:
            db.delete_expired_reservations(now_s=now_s)
            self._expired_in_db = 0

    # --- dispatch ----------------------------------------------------------------------------
    def next_due_s(self, queue: str) -> float | None:
        """When the queue's next task is due (dropping stale heap entries), or None."""
        with self._lock:
            heap = self._heaps.get(queue)
            while heap:
                due_s, generation, name = heap[0]
                record = self._tasks.get(name)
                if (
                    record is not None
                    and record.generation == generation
                    and record.due_s == due_s
                    and record.live is None
                ):
                    return due_s
                heapq.heappop(heap)
            return None

    def take_due(self, queue: str, *, now_s: float) -> Taken | None:
        """Mark the queue's first due task in flight and hand it over, or None."""
        with self._lock:
            due_s = self.next_due_s(queue)
            if due_s is None or due_s > now_s:
                return None
            _, _, name = heapq.heappop(self._heaps[queue])
            return self._take(name, now_s=now_s)

    def take(self, name: str, *, now_s: float) -> Taken | None:
        """Mark a task in flight whatever its schedule (RunTask); None if gone or in flight."""
        with self._lock:
            record = self._tasks.get(name)
            if record is None or record.live is not None:
                return None
            return self._take(name, now_s=now_s)

    def _take(self, name: str, *, now_s: float) -> Taken:
        record = self._tasks[name]
        task = api.Task.FromString(record.data)
        record.live = task
        retry_count = task.dispatch_count
        task.dispatch_count += 1
        if record.first_attempt_s == 0.0:
            record.first_attempt_s = now_s
            set_seconds(task.first_attempt.dispatch_time, now_s)
        return Taken(
            name=name,
            queue=record.queue,
            generation=record.generation,
            task=task,
            retry_count=retry_count,
            execution_count=record.execution_count,
            previous_response=record.previous_response,
            first_attempt_s=record.first_attempt_s,
        )

    def _current(self, taken: Taken) -> TaskRecord | None:
        record = self._tasks.get(taken.name)
        if record is None or record.generation != taken.generation:
            return None  # deleted or purged meanwhile: the attempt's outcome no longer matters
        return record

    @_durable
    def record_success(self, taken: Taken, *, now_s: float) -> None:
        """A 2xx: delete the task and reserve its name, in one transaction."""
        with self._lock:
            if self._current(taken) is None:
                return
            with self._write() as db:
                self._remove(db, taken.name, now_s=now_s)

    @_durable
    def record_failure(
        self,
        taken: Taken,
        *,
        last_attempt: api.Attempt,
        status: int | None,
        next_due_s: float | None,
        now_s: float,
    ) -> None:
        """A failed attempt: keep it in the task and retry at ``next_due_s``, or (None) give up,
        deleting the task and reserving its name."""
        with self._lock:
            record = self._current(taken)
            if record is None:
                return
            with self._write() as db:
                if next_due_s is None:
                    self._remove(db, taken.name, now_s=now_s)
                    return
                task = record.live if record.live is not None else api.Task.FromString(record.data)
                task.last_attempt.CopyFrom(last_attempt)
                if status is not None:
                    task.response_count += 1
                    if status < 500:
                        record.execution_count += 1
                record.previous_response = status
                set_seconds(task.schedule_time, next_due_s)
                record.due_s = seconds(task.schedule_time)
                record.data = task.SerializeToString()
                record.live = None
                if db is not None:
                    db.save_task(_row_of(taken.name, record))
                heapq.heappush(
                    self._heaps[record.queue], (record.due_s, record.generation, taken.name)
                )

    def count_tasks(self, queue: str | None = None) -> int:
        """Live tasks (pending or in flight), of one queue or of all."""
        with self._lock:
            if queue is None:
                return len(self._tasks)
            return len(self._by_queue.get(queue, ()))

    # --- IAM policies ------------------------------------------------------------------------
    def get_iam_policy(self, queue: str) -> bytes | None:
        """The queue's serialized policy, or None if none was set."""
        with self._lock:
            return self._iam_policies.get(queue)

    @_durable
    def put_iam_policy(self, queue: str, policy: bytes) -> bool:
        """Set the queue's policy; False if there is no such queue."""
        with self._lock:
            if queue not in self._queues:
                return False
            with self._write() as db:
                if db is not None:
                    db.save_iam_policy(queue, policy)
                self._iam_policies[queue] = policy
            return True

    # --- CMEK configs ------------------------------------------------------------------------
    def get_cmek_config(self, name: str) -> api.CmekConfig | None:
        with self._lock:
            config = self._cmek_configs.get(name)
            return None if config is None else api.copy_of(config)

    @_durable
    def put_cmek_config(self, config: api.CmekConfig) -> None:
        with self._lock, self._write() as db:
            if db is not None:
                db.save_cmek_config(config.name, config.SerializeToString())
            self._cmek_configs[config.name] = api.copy_of(config)

    # --- reads for the console (tasks_emulator.console): copies, taken under the lock; nothing
    # on the dispatch path calls these, and they change nothing.
    def all_queues(self) -> list[api.Queue]:
        """Copies of every queue, in name order."""
        with self._lock:
            return [api.copy_of(self._queues[name]) for name in sorted(self._queues)]

    def peek_tasks(self, queue: str) -> list[TaskPeek]:
        """What the console shows of each live task of ``queue``, without parsing one."""
        peeks = []
        with self._lock:
            tasks = self._tasks
            for name in self._by_queue.get(queue, ()):
                record = tasks[name]
                live = record.live is not None
                peeks.append(
                    TaskPeek(
                        name,
                        record.due_s,
                        live or record.first_attempt_s > 0.0,
                        live,
                        record.execution_count,
                        record.previous_response,
                    )
                )
        return peeks

    def reserved_in(self, queue: str, *, now_s: float) -> list[tuple[str, float]]:
        """(name, when it was reserved) of ``queue``'s task names reserved now."""
        prefix = queue + "/tasks/"
        with self._lock:
            return [
                (name, expiry_s - self._name_reserve_s)
                for name, expiry_s in self._reserved.items()
                if expiry_s > now_s and name.startswith(prefix)
            ]


def _row_of(name: str, record: TaskRecord) -> TaskRow:
    return TaskRow(
        generation=record.generation,
        name=name,
        queue=record.queue,
        data=record.data,
        due_s=record.due_s,
        first_attempt_s=record.first_attempt_s,
        execution_count=record.execution_count,
        previous_response=record.previous_response,
    )


def _task_of(record: TaskRecord) -> api.Task:
    """A Task message of the caller's own, as GetTask shows it now."""
    if record.live is not None:
        return api.copy_of(record.live)
    return api.Task.FromString(record.data)
