"""The SQLite file on its own: what a change writes is what the next start reads back."""

from __future__ import annotations

import threading
from pathlib import Path

from tasks_emulator.persistence import Changes, Persistence, TaskRow

QUEUE = "projects/p/locations/l/queues/q"


def _row(generation: int, *, queue: str = QUEUE) -> TaskRow:
    return TaskRow(
        generation=generation,
        name=f"{queue}/tasks/t{generation}",
        queue=queue,
        data=b"task %d" % generation,
        due_s=100.0 + generation,
        first_attempt_s=0.0,
        execution_count=generation,
        previous_response=None if generation == 1 else 503,
    )


def _commit(disk: Persistence, changes: Changes) -> None:
    disk.submit(changes)
    disk.flush()


def test_a_committed_change_is_read_back_after_a_restart(tmp_path: Path) -> None:
    disk = Persistence(tmp_path)
    changes = Changes()
    changes.save_queue(QUEUE, b"queue")
    changes.save_task(_row(1))
    changes.save_task(_row(2))
    changes.reserve_task_names([f"{QUEUE}/tasks/late", f"{QUEUE}/tasks/soon"], until_s=50.0)
    changes.save_iam_policy(QUEUE, b"policy")
    changes.save_cmek_config("projects/p/locations/l/cmekConfig", b"config")
    _commit(disk, changes)
    disk.close()

    again = Persistence(tmp_path)
    assert list(again.rows_of_queues()) == [(QUEUE, b"queue")]
    assert sorted(again.rows_of_tasks()) == [_row(1), _row(2)]
    assert sorted(again.rows_of_reserved_tasks()) == [
        (f"{QUEUE}/tasks/late", 50.0),
        (f"{QUEUE}/tasks/soon", 50.0),
    ]
    assert list(again.rows_of_iam_policies()) == [(QUEUE, b"policy")]
    assert list(again.rows_of_cmek_configs()) == [("projects/p/locations/l/cmekConfig", b"config")]
    again.close()


def test_a_change_reaches_the_file_at_flush_not_at_submit(tmp_path: Path) -> None:
    disk = Persistence(tmp_path)
    changes = Changes()
    changes.save_queue(QUEUE, b"queue")
    disk.submit(changes)
    reader = Persistence(tmp_path)
    assert list(reader.rows_of_queues()) == []
    disk.flush()
    assert list(reader.rows_of_queues()) == [(QUEUE, b"queue")]
    reader.close()
    disk.close()


def test_deleting_a_queue_takes_its_tasks_and_policy_and_reserves_its_name(tmp_path: Path) -> None:
    other = "projects/p/locations/l/queues/other"
    disk = Persistence(tmp_path)
    setup = Changes()
    setup.save_queue(QUEUE, b"queue")
    setup.save_queue(other, b"other")
    setup.save_task(_row(1))
    setup.save_task(_row(2, queue=other))
    setup.save_iam_policy(QUEUE, b"policy")
    _commit(disk, setup)
    deletion = Changes()
    deletion.delete_queue(QUEUE, reserved_until_s=900.0)
    _commit(disk, deletion)
    assert list(disk.rows_of_queues()) == [(other, b"other")]
    assert list(disk.rows_of_tasks()) == [_row(2, queue=other)]
    assert list(disk.rows_of_iam_policies()) == []
    assert list(disk.rows_of_reserved_queues()) == [(QUEUE, 900.0)]
    disk.close()


def test_expired_reservations_go_and_clear_empties_everything(tmp_path: Path) -> None:
    disk = Persistence(tmp_path)
    changes = Changes()
    changes.save_queue(QUEUE, b"queue")
    changes.reserve_task_names(["a"], until_s=10.0)
    changes.reserve_task_names(["b"], until_s=30.0)
    _commit(disk, changes)
    expiry = Changes()
    expiry.delete_expired_reservations(now_s=20.0)
    _commit(disk, expiry)
    assert list(disk.rows_of_reserved_tasks()) == [("b", 30.0)]
    reset = Changes()
    reset.clear()
    _commit(disk, reset)
    assert list(disk.rows_of_queues()) == []
    assert list(disk.rows_of_reserved_tasks()) == []
    disk.close()


def test_changes_from_many_threads_are_all_committed_in_order(tmp_path: Path) -> None:
    disk = Persistence(tmp_path)
    order = threading.Lock()  # as the store's lock: a change is submitted in the order made

    def write(worker: int) -> None:
        for n in range(50):
            changes = Changes()
            changes.save_queue(QUEUE, b"%d:%d" % (worker, n))
            changes.save_task(_row(worker * 100 + n + 1))
            with order:
                disk.submit(changes)
                last[0] = b"%d:%d" % (worker, n)
            disk.flush()

    last = [b""]
    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    disk.close()
    again = Persistence(tmp_path)
    assert len(list(again.rows_of_tasks())) == 200
    assert list(again.rows_of_queues()) == [(QUEUE, last[0])]  # the last one submitted won
    again.close()
