"""The embedded SQLite queue backend (``"sqlite"``): ``<project>/.aegis/queue.db``.

Any number of aegis processes of one project share the database file; SQLite's
file locks make their changes atomic. The settings (WAL, ``synchronous=FULL``,
``BEGIN IMMEDIATE`` writes, a busy timeout) and why are in :mod:`aegis.queue._sqlite`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from aegis.events import Usage
from aegis.queue._sqlite import SqliteFile
from aegis.queue.backend import INTERRUPTED
from aegis.queue.task import TaskRecord, Tasks, TaskStatus, new_task_id, require_ending

DB_NAME = "queue.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id                 TEXT PRIMARY KEY,      -- sortable: id order is creation order
    queue              TEXT NOT NULL,
    payload            TEXT NOT NULL,
    sender             TEXT NOT NULL,
    callback           INTEGER NOT NULL,
    status             TEXT NOT NULL,
    result             TEXT,
    error              TEXT,
    input_tokens       INTEGER,
    output_tokens      INTEGER,
    cache_read_tokens  INTEGER,
    cache_write_tokens INTEGER,
    cost_usd           REAL,
    created_at         REAL NOT NULL,
    started_at         REAL,
    finished_at        REAL,
    worker_handle      TEXT,
    owner              TEXT,
    attempt            INTEGER NOT NULL DEFAULT 1,
    retry_of           TEXT
);
CREATE INDEX IF NOT EXISTS tasks_by_queue_status ON tasks (queue, status, id);
CREATE INDEX IF NOT EXISTS tasks_by_status ON tasks (status, owner);
-- The outbox: one row per ended task whose callback is due, written in the
-- transaction that ends the task, and delivered_at is set once the inbox has it.
CREATE TABLE IF NOT EXISTS callbacks (
    task_id      TEXT PRIMARY KEY REFERENCES tasks (id),
    target       TEXT NOT NULL,
    created_at   REAL NOT NULL,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS callbacks_pending ON callbacks (delivered_at, task_id);
"""

_ACTIVE = (TaskStatus.queued.value, TaskStatus.running.value)


class SqliteQueueBackend:
    """The :class:`~aegis.queue.backend.QueueBackend` on one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = SqliteFile(path, _SCHEMA)
        self._write = self._file.write
        self._read = self._file.read

    @classmethod
    def for_state_dir(cls, state_dir: Path) -> SqliteQueueBackend:
        """The backend of the project whose state lives in ``state_dir``."""
        return cls(state_dir / DB_NAME)

    @staticmethod
    def _get(db: sqlite3.Connection, task_id: str) -> TaskRecord | None:
        row = db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return TaskRecord.from_row(row) if row is not None else None

    # --- the contract -----------------------------------------------------------------------

    def add(
        self,
        queue: str,
        payload: str,
        *,
        sender: str = "user",
        callback: bool = False,
        attempt: int = 1,
        retry_of: str | None = None,
    ) -> TaskRecord:
        with self._write() as db:
            # The id is made under the write lock, after the largest one so far: id
            # order is then commit order, across every process sharing the file.
            (last,) = db.execute("SELECT MAX(id) FROM tasks").fetchone()
            task = TaskRecord(
                id=new_task_id(after=last),
                queue=queue,
                payload=payload,
                sender=sender,
                callback=callback,
                created_at=time.time(),
                attempt=attempt,
                retry_of=retry_of,
            )
            db.execute(
                "INSERT INTO tasks (id, queue, payload, sender, callback, status, created_at,"
                " attempt, retry_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    task.id,
                    queue,
                    payload,
                    sender,
                    int(callback),
                    TaskStatus.queued.value,
                    task.created_at,
                    attempt,
                    retry_of,
                ),
            )
        return task

    def claim(self, queue: str, max_parallel: int, owner: str) -> TaskRecord | None:
        with self._write() as db:
            (running,) = db.execute(
                "SELECT COUNT(*) FROM tasks WHERE queue = ? AND status = ?",
                (queue, TaskStatus.running.value),
            ).fetchone()
            if running >= max_parallel:
                return None
            row = db.execute(
                "SELECT id FROM tasks WHERE queue = ? AND status = ? ORDER BY id LIMIT 1",
                (queue, TaskStatus.queued.value),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE tasks SET status = ?, owner = ?, started_at = ? WHERE id = ?",
                (TaskStatus.running.value, owner, time.time(), row["id"]),
            )
            return self._get(db, row["id"])

    def set_worker(self, task_id: str, worker_handle: str) -> None:
        with self._write() as db:
            db.execute("UPDATE tasks SET worker_handle = ? WHERE id = ?", (worker_handle, task_id))

    def finish(
        self,
        task_id: str,
        status: TaskStatus,
        *,
        result: str | None = None,
        error: str | None = None,
        usage: Usage | None = None,
    ) -> TaskRecord | None:
        require_ending(status)
        with self._write() as db:
            return self._end(db, task_id, status, result, error, usage, _ACTIVE)

    def _end(
        self,
        db: sqlite3.Connection,
        task_id: str,
        status: TaskStatus,
        result: str | None,
        error: str | None,
        usage: Usage | None,
        from_states: tuple[str, ...],
    ) -> TaskRecord | None:
        """End one task inside the caller's transaction, with its outbox row."""
        u = usage or Usage()
        marks = ", ".join("?" for _ in from_states)
        changed = db.execute(
            "UPDATE tasks SET status = ?, result = ?, error = ?, input_tokens = ?,"
            " output_tokens = ?, cache_read_tokens = ?, cache_write_tokens = ?, cost_usd = ?,"
            f" finished_at = ? WHERE id = ? AND status IN ({marks})",
            (
                status.value,
                result,
                error,
                u.input_tokens if usage else None,
                u.output_tokens if usage else None,
                u.cache_read_tokens if usage else None,
                u.cache_write_tokens if usage else None,
                u.cost_usd if usage else None,
                time.time(),
                task_id,
                *from_states,
            ),
        ).rowcount
        if changed != 1:  # ended already: the first end wins
            return None
        task = self._get(db, task_id)
        assert task is not None
        if task.callback_target is not None:
            db.execute(
                "INSERT OR IGNORE INTO callbacks (task_id, target, created_at) VALUES (?, ?, ?)",
                (task_id, task.callback_target, time.time()),
            )
        return task

    def get(self, task_id: str) -> TaskRecord | None:
        rows = self._read("SELECT * FROM tasks WHERE id = ?", (task_id,))
        return TaskRecord.from_row(rows[0]) if rows else None

    def list(
        self,
        queue: str | None = None,
        status: TaskStatus | None = None,
        limit: int | None = 100,
    ) -> Tasks:
        where, params = [], []
        if queue is not None:
            where.append("queue = ?")
            params.append(queue)
        if status is not None:
            where.append("status = ?")
            params.append(status.value)
        sql = "SELECT * FROM tasks"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        rows = self._read(sql, (*params, -1 if limit is None else limit))
        return [TaskRecord.from_row(row) for row in reversed(rows)]

    def counts(self) -> dict[str, dict[str, int]]:
        rows = self._read("SELECT queue, status, COUNT(*) AS n FROM tasks GROUP BY queue, status")
        counts: dict[str, dict[str, int]] = {}
        for row in rows:
            counts.setdefault(row["queue"], {})[row["status"]] = row["n"]
        return counts

    def recover(self, is_owner_alive: Callable[[str], bool]) -> Tasks:
        # Judge the owners before taking the write lock: looking a process up may be slow.
        owners = self._read(
            "SELECT DISTINCT owner FROM tasks WHERE status = ?", (TaskStatus.running.value,)
        )
        dead = [
            row["owner"] for row in owners if not row["owner"] or not is_owner_alive(row["owner"])
        ]
        if not dead:
            return []
        recovered: Tasks = []
        with self._write() as db:
            for owner in dead:
                rows = db.execute(
                    "SELECT id FROM tasks WHERE status = ? AND owner IS ?",
                    (TaskStatus.running.value, owner),
                ).fetchall()
                for row in rows:
                    task = self._end(
                        db,
                        row["id"],
                        TaskStatus.failed,
                        None,
                        INTERRUPTED,
                        None,
                        (TaskStatus.running.value,),
                    )
                    if task is not None:
                        recovered.append(task)
        return recovered

    def pending_callbacks(self, limit: int = 100) -> Tasks:
        rows = self._read(
            "SELECT tasks.* FROM callbacks JOIN tasks ON tasks.id = callbacks.task_id"
            " WHERE callbacks.delivered_at IS NULL ORDER BY callbacks.task_id LIMIT ?",
            (limit,),
        )
        return [TaskRecord.from_row(row) for row in rows]

    def mark_callback_delivered(self, task_id: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE callbacks SET delivered_at = ? WHERE task_id = ? AND delivered_at IS NULL",
                (time.time(), task_id),
            )

    def close(self) -> None:
        self._file.close()
