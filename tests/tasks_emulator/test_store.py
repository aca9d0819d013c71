"""The store in memory and in SQLite: dedupe, reservations, scheduling order, restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks_emulator import api, validation
from tasks_emulator.store import Store

QUEUE = "projects/p/locations/l/queues/q"
NOW_S = 1_800_000_000.0


def _queue() -> api.Queue:
    queue = api.Queue(name=QUEUE)
    validation.check_queue_config(queue)
    return queue


def _task(task_id: str, *, due_s: float = NOW_S) -> api.Task:
    task = api.Task(name=f"{QUEUE}/tasks/{task_id}")
    task.http_request.url = "http://127.0.0.1:9/"
    validation.set_seconds(task.schedule_time, due_s)
    return task


@pytest.fixture(params=["memory", "sqlite"])
def data_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path | None:
    return None if request.param == "memory" else tmp_path


def _store(data_dir: Path | None, *, reserve_s: float = 60.0) -> Store:
    store = Store(data_dir=data_dir, name_reserve_s=reserve_s)
    store.put_queue(_queue())
    return store


def _add(store: Store, task_id: str, *, due_s: float = NOW_S, now_s: float = NOW_S) -> bool:
    return store.add_task(
        f"{QUEUE}/tasks/{task_id}", queue=QUEUE, task=_task(task_id, due_s=due_s), now_s=now_s
    )


def test_a_live_name_cannot_be_added_twice(data_dir: Path | None) -> None:
    store = _store(data_dir)
    assert _add(store, "a")
    assert not _add(store, "a")


def test_a_deleted_name_is_reserved_until_it_expires(data_dir: Path | None) -> None:
    store = _store(data_dir, reserve_s=60)
    _add(store, "a")
    assert store.delete_task(f"{QUEUE}/tasks/a", now_s=NOW_S)
    assert store.recently_existed(f"{QUEUE}/tasks/a", now_s=NOW_S + 59)
    assert not _add(store, "a", now_s=NOW_S + 59)
    assert _add(store, "a", now_s=NOW_S + 61)


def test_tasks_are_taken_in_due_order_and_only_when_due(data_dir: Path | None) -> None:
    store = _store(data_dir)
    _add(store, "late", due_s=NOW_S + 10)
    _add(store, "early", due_s=NOW_S + 5)
    assert store.next_due_s(QUEUE) == NOW_S + 5
    assert store.take_due(QUEUE, now_s=NOW_S) is None
    first = store.take_due(QUEUE, now_s=NOW_S + 20)
    second = store.take_due(QUEUE, now_s=NOW_S + 20)
    assert first is not None
    assert second is not None
    assert (first.name.rsplit("/", 1)[1], second.name.rsplit("/", 1)[1]) == ("early", "late")
    assert store.take_due(QUEUE, now_s=NOW_S + 20) is None  # both in flight


def test_a_failure_reschedules_and_keeps_the_attempt(data_dir: Path | None) -> None:
    store = _store(data_dir)
    _add(store, "a")
    taken = store.take_due(QUEUE, now_s=NOW_S)
    assert taken is not None
    assert (taken.retry_count, taken.first_attempt_s) == (0, NOW_S)
    attempt = api.Task().last_attempt
    attempt.response_status.code = 14
    store.record_failure(
        taken, last_attempt=attempt, status=503, next_due_s=NOW_S + 2, now_s=NOW_S + 1
    )
    task = store.get_task(taken.name)
    assert task is not None
    assert (task.dispatch_count, task.response_count) == (1, 1)
    assert task.last_attempt.response_status.code == 14
    assert validation.seconds(task.schedule_time) == NOW_S + 2
    again = store.take_due(QUEUE, now_s=NOW_S + 2)
    assert again is not None
    assert (again.retry_count, again.previous_response, again.execution_count) == (1, 503, 0)


def test_a_success_deletes_and_reserves(data_dir: Path | None) -> None:
    store = _store(data_dir)
    _add(store, "a")
    taken = store.take_due(QUEUE, now_s=NOW_S)
    assert taken is not None
    store.record_success(taken, now_s=NOW_S)
    assert store.get_task(taken.name) is None
    assert store.recently_existed(taken.name, now_s=NOW_S)


def test_the_outcome_of_a_purged_task_is_ignored(data_dir: Path | None) -> None:
    store = _store(data_dir)
    _add(store, "a")
    taken = store.take_due(QUEUE, now_s=NOW_S)
    assert taken is not None
    assert store.purge_queue(QUEUE, now_s=NOW_S) == 1
    store.record_failure(
        taken, last_attempt=api.Task().last_attempt, status=500, next_due_s=NOW_S, now_s=NOW_S
    )
    assert store.count_tasks() == 0
    assert store.next_due_s(QUEUE) is None


def test_list_tasks_pages_by_name(data_dir: Path | None) -> None:
    store = _store(data_dir)
    for task_id in "dbca":
        _add(store, task_id)
    page, more = store.list_tasks(QUEUE, after="", limit=3)
    assert [t.name[-1] for t in page] == ["a", "b", "c"]
    assert more
    page, more = store.list_tasks(QUEUE, after=page[-1].name, limit=3)
    assert [t.name[-1] for t in page] == ["d"]
    assert not more


def test_a_deleted_queue_takes_its_tasks_and_reserves_its_name(data_dir: Path | None) -> None:
    store = _store(data_dir)
    _add(store, "a")
    assert store.delete_queue(QUEUE, now_s=NOW_S)
    assert store.get_queue(QUEUE) is None
    assert store.count_tasks() == 0
    assert store.queue_name_reserved(QUEUE, now_s=NOW_S + 6 * 24 * 3600)
    assert not store.queue_name_reserved(QUEUE, now_s=NOW_S + 8 * 24 * 3600)


def test_everything_survives_a_restart(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _add(store, "pending", due_s=NOW_S + 5)
    _add(store, "done")
    _add(store, "failed")
    _add(store, "in-flight", due_s=NOW_S + 1)
    taken = store.take_due(QUEUE, now_s=NOW_S)
    assert taken is not None
    assert taken.name.endswith("/done")
    store.record_success(taken, now_s=NOW_S)
    failed = store.take_due(QUEUE, now_s=NOW_S)
    assert failed is not None
    assert failed.name.endswith("/failed")
    store.record_failure(
        failed, last_attempt=api.Task().last_attempt, status=404, next_due_s=NOW_S + 9, now_s=NOW_S
    )
    assert store.take_due(QUEUE, now_s=NOW_S + 1) is not None  # then killed mid-attempt
    store.close()

    reopened = Store(data_dir=tmp_path, name_reserve_s=60)
    assert reopened.get_queue(QUEUE) is not None
    assert reopened.count_tasks() == 3
    assert reopened.recently_existed(f"{QUEUE}/tasks/done", now_s=NOW_S)
    failed_task = reopened.get_task(f"{QUEUE}/tasks/failed")
    assert failed_task is not None
    assert failed_task.dispatch_count == 1
    # The attempt in flight at the kill runs again, first of all.
    again = reopened.take_due(QUEUE, now_s=NOW_S + 1)
    assert again is not None
    assert again.name.endswith("/in-flight")
    pending = reopened.take_due(QUEUE, now_s=NOW_S + 5)
    assert pending is not None
    assert pending.name.endswith("/pending")
    retried = reopened.take_due(QUEUE, now_s=NOW_S + 9)
    assert retried is not None
    assert (retried.retry_count, retried.execution_count, retried.previous_response) == (1, 1, 404)
    reopened.close()
