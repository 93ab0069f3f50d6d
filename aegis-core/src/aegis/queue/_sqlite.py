"""One SQLite file shared by several processes: the settings aegis's stores use.

* WAL journal: readers never block the writer, and a commit is one append.
* ``synchronous=FULL``: a commit is on disk before it returns, so what aegis has
  acknowledged (a task enqueued, a message kept for later) survives a power cut or
  an OS crash, not just a killed aegis (which ``NORMAL`` already survives). These
  stores change at the pace of agent turns: one fsync per change costs nothing
  that matters.
* Writes run in ``BEGIN IMMEDIATE``: the write lock is taken before the
  transaction reads, so read-then-write steps are atomic across processes and never
  fail half-way on a lock upgrade.
* ``busy_timeout`` of 30 s: a writer waits for another process's transaction
  instead of failing.
* One connection per store, behind a lock: callers come from worker threads
  (``anyio.to_thread``), and SQLite serialises writers anyway.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BUSY_TIMEOUT_MS = 30_000


class SqliteFile:
    """A connection to one database file, with the schema applied."""

    def __init__(self, path: Path, schema: str) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        with self.write() as db:
            # Statement by statement: executescript would commit this transaction.
            for statement in schema.split(";"):
                if statement.strip():
                    db.execute(statement)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, else rolled back."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """The rows of one query (a consistent snapshot)."""
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()
