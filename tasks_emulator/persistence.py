"""The emulator's state on disk: a SQLite file in the data directory, written through by ``store``.

``store.Store`` keeps everything in memory and describes each change here as a ``Changes``
(queue saved, task saved or deleted, names reserved...); ``Persistence.submit`` queues a change's
statements, in the order the changes were made, and ``Persistence.flush`` commits every change
queued so far in one transaction: callers that arrive while another commits find their change
committed by it (group commit), and each change is whole in one transaction. At start, the
``rows_of_*`` methods read the state back.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

DB_FILE = "tasks_emulator.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS queues (name TEXT PRIMARY KEY, pb BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, queue TEXT NOT NULL, pb BLOB NOT NULL,
    due_s REAL NOT NULL,
    first_attempt_s REAL NOT NULL, execution_count INTEGER NOT NULL, previous_response INTEGER
);
CREATE TABLE IF NOT EXISTS reserved_tasks (name TEXT PRIMARY KEY, expiry_s REAL NOT NULL);
CREATE INDEX IF NOT EXISTS reserved_tasks_by_expiry ON reserved_tasks (expiry_s);
CREATE TABLE IF NOT EXISTS reserved_queues (name TEXT PRIMARY KEY, expiry_s REAL NOT NULL);
CREATE TABLE IF NOT EXISTS cmek_configs (name TEXT PRIMARY KEY, pb BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS iam_policies (queue TEXT PRIMARY KEY, pb BLOB NOT NULL);
"""
_TABLES = (
    "queues", "tasks", "reserved_tasks", "reserved_queues", "cmek_configs", "iam_policies"
)  # fmt: skip

_Row = tuple[str | bytes | float | int | None, ...]
# SQL, the rows of its parameters, whether it runs once per row (else once, with the first).
_Statement = tuple[str, list[_Row], bool]


class TaskRow(NamedTuple):
    """A live task as stored: the serialized Task and the bookkeeping kept beside it."""

    generation: int  # the row id: integer keys append where task names would scatter inserts
    name: str
    queue: str
    data: bytes
    due_s: float
    first_attempt_s: float
    execution_count: int
    previous_response: int | None


class Changes:
    """The statements of one change of the state, committed later (``Persistence.flush``)."""

    def __init__(self) -> None:
        self.statements: list[_Statement] = []

    def _execute(self, sql: str, params: _Row) -> None:
        self.statements.append((sql, [params], False))

    def clear(self) -> None:
        """Forget everything."""
        for table in _TABLES:
            self._execute(f"DELETE FROM {table}", ())  # noqa: S608 (names above)

    def save_queue(self, name: str, queue: bytes) -> None:
        self._execute("INSERT OR REPLACE INTO queues (name, pb) VALUES (?, ?)", (name, queue))

    def delete_queue(self, name: str, *, reserved_until_s: float) -> None:
        """The queue, its tasks and its IAM policy go; its name stays reserved."""
        self._execute("DELETE FROM queues WHERE name = ?", (name,))
        self.delete_tasks_of(name)
        self._execute("DELETE FROM iam_policies WHERE queue = ?", (name,))
        self._execute(
            "INSERT OR REPLACE INTO reserved_queues (name, expiry_s) VALUES (?, ?)",
            (name, reserved_until_s),
        )

    def save_task(self, row: TaskRow) -> None:
        self._execute(
            "INSERT OR REPLACE INTO tasks (id, name, queue, pb, due_s, first_attempt_s, "
            "execution_count, previous_response) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )

    def delete_task(self, generation: int) -> None:
        self._execute("DELETE FROM tasks WHERE id = ?", (generation,))

    def delete_tasks_of(self, queue: str) -> None:
        self._execute("DELETE FROM tasks WHERE queue = ?", (queue,))

    def reserve_task_names(self, names: list[str], *, until_s: float) -> None:
        if names:
            self.statements.append(
                (
                    "INSERT OR REPLACE INTO reserved_tasks (name, expiry_s) VALUES (?, ?)",
                    [(name, until_s) for name in names],
                    True,
                )
            )

    def delete_expired_reservations(self, *, now_s: float) -> None:
        self._execute("DELETE FROM reserved_tasks WHERE expiry_s <= ?", (now_s,))

    def save_iam_policy(self, queue: str, policy: bytes) -> None:
        self._execute(
            "INSERT OR REPLACE INTO iam_policies (queue, pb) VALUES (?, ?)", (queue, policy)
        )

    def save_cmek_config(self, name: str, config: bytes) -> None:
        self._execute(
            "INSERT OR REPLACE INTO cmek_configs (name, pb) VALUES (?, ?)", (name, config)
        )


class Persistence:
    """The SQLite file of a data directory (created if missing), and the changes not yet in it."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._db: sqlite3.Connection | None = sqlite3.connect(
            data_dir / DB_FILE, check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        # A committed change is in the OS's hands: it survives this process dying (kill -9),
        # not the machine losing power, which an emulator need not survive; it makes a
        # commit three times cheaper than NORMAL (no fsync at checkpoints).
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.executescript(_SCHEMA)
        self._db_lock = threading.Lock()  # the connection, and commits in order
        self._pending_lock = threading.Lock()  # the changes submitted, not yet committed
        self._pending: list[_Statement] = []
        self._seq = 0  # changes submitted so far
        self._committed_seq = 0

    # --- reading back, at start --------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the emulator's state file is closed")
        return self._db

    def rows_of_queues(self) -> Iterator[tuple[str, bytes]]:
        """(name, serialized Queue) of every queue."""
        return iter(self._connection().execute("SELECT name, pb FROM queues"))

    def rows_of_tasks(self) -> Iterator[TaskRow]:
        rows = self._connection().execute(
            "SELECT id, name, queue, pb, due_s, first_attempt_s, execution_count, "
            "previous_response FROM tasks"
        )
        return (TaskRow(*row) for row in rows)

    def rows_of_reserved_tasks(self) -> Iterator[tuple[str, float]]:
        """(name, expiry_s) of every reserved task name, the soonest to expire first."""
        return iter(
            self._connection().execute(
                "SELECT name, expiry_s FROM reserved_tasks ORDER BY expiry_s"
            )
        )

    def rows_of_reserved_queues(self) -> Iterator[tuple[str, float]]:
        return iter(self._connection().execute("SELECT name, expiry_s FROM reserved_queues"))

    def rows_of_cmek_configs(self) -> Iterator[tuple[str, bytes]]:
        return iter(self._connection().execute("SELECT name, pb FROM cmek_configs"))

    def rows_of_iam_policies(self) -> Iterator[tuple[str, bytes]]:
        """(queue, serialized google.iam.v1.Policy)."""
        return iter(self._connection().execute("SELECT queue, pb FROM iam_policies"))

    # --- writing through ---------------------------------------------------------------------
    def submit(self, changes: Changes) -> None:
        """Queue a change to commit; changes are committed in the order they were submitted."""
        with self._pending_lock:
            self._pending.extend(changes.statements)
            self._seq += 1

    def flush(self) -> None:
        """Commit every change submitted so far, in order, in one transaction."""
        with self._pending_lock:
            target = self._seq
        if self._committed_seq >= target:
            return
        with self._db_lock:
            if self._committed_seq >= target or self._db is None:
                return
            with self._pending_lock:
                statements, self._pending = self._pending, []
                last = self._seq
            self._db.execute("BEGIN")
            try:
                for sql, rows, many in statements:
                    if many:
                        self._db.executemany(sql, rows)
                    else:
                        self._db.execute(sql, rows[0])
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self._committed_seq = last

    def close(self) -> None:
        """Commit what is pending, then close the file."""
        self.flush()
        with self._db_lock:
            if self._db is not None:
                self._db.close()
                self._db = None
