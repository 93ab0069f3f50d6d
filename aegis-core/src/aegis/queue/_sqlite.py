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
* A database is created whole: built under a temporary name with its schema and
  aegis's application id, then linked into place. So a file at the database's
  path is always a complete aegis database; an empty file, one that is not SQLite,
  or one without the application id is damage, reported as a
  :class:`~aegis.errors.StateError` (``aegis repair`` moves it aside), never
  silently started afresh — that would lose every task without a word.
* SQLite's errors become :class:`~aegis.errors.StateError`: a damaged file, a full
  disk (``transient``: the same write may succeed later), an unwritable folder.
* Files are owner-only (0600; SQLite gives its ``-wal`` and ``-shm`` files the
  database's mode) in an owner-only folder: see :mod:`aegis.private_files`.
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, NoReturn

from aegis.errors import StateError
from aegis.private_files import FILE_MODE, disk_full, open_private, private_dir, unusable

BUSY_TIMEOUT_MS = 30_000
APPLICATION_ID = 0x61656773
"""``PRAGMA application_id`` of every database aegis creates (``"aegs"``)."""
SQLITE_MAGIC = b"SQLite format 3\x00"
COMPANIONS = ("-wal", "-shm", "-journal")
"""The files SQLite keeps beside a database, which belong with it."""

# Primary result codes (the low byte of an extended code).
_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CORRUPT = 3, 8, 10, 11
_SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 13, 14, 26
_NEARLY_FULL = 1 << 20
"""Less free space than this, and an I/O error is taken for a full disk."""


def repair_hint(path: Path) -> str:
    return (
        f"run `aegis repair` to move it aside (to {path.name}.damaged-<time>) and start "
        "with an empty one; nothing is deleted"
    )


def damaged(path: Path, reason: str) -> StateError:
    """The error of a database file that is not a usable aegis database."""
    return StateError(
        f"{path} is damaged: {reason}", path=str(path), hint=repair_hint(path), damaged=True
    )


def state_error(path: Path, exc: sqlite3.Error | OSError) -> StateError | None:
    """``exc``, met while using the database at ``path``, explained (``None``: a bug)."""
    if isinstance(exc, OSError):
        return unusable(path, exc)
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB) or type(exc) is sqlite3.DatabaseError:
        return damaged(path, str(exc))
    if code == _SQLITE_FULL or (code == _SQLITE_IOERR and _disk_full(path.parent)):
        # SQLite reports a write that found no space as SQLITE_FULL, or as an I/O
        # error when it happened while growing the -wal or -shm file.
        return disk_full(path)
    if code in (_SQLITE_IOERR, _SQLITE_READONLY, _SQLITE_CANTOPEN, _SQLITE_PERM):
        return StateError(
            f"cannot write {path}: {exc}",
            path=str(path),
            hint=f"check the permissions and the free space of {path.parent}",
            transient=code == _SQLITE_IOERR,
        )
    return None


def _disk_full(folder: Path) -> bool:
    try:
        stats = os.statvfs(folder)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < _NEARLY_FULL


def check_file(path: Path) -> None:
    """Raise :class:`StateError` if the file at ``path`` cannot be an aegis database."""
    if not path.is_file():
        raise damaged(path, "it is not a file")
    size = path.stat().st_size
    if size == 0:
        # An older aegis left its first commits in the -wal file: that is a database.
        wal = path.with_name(path.name + "-wal")
        if wal.is_file() and wal.stat().st_size > 0:
            return
        raise damaged(path, "the file is empty (0 bytes): what it held is lost")
    with path.open("rb") as file:
        head = file.read(len(SQLITE_MAGIC))
    if head != SQLITE_MAGIC:
        raise damaged(path, "it is not a SQLite database")


def move_aside(path: Path) -> Path:
    """Rename the database (or file) at ``path`` and its companions to ``<name>.damaged-<time>``.

    The companions keep their suffixes, so the moved files open together in
    ``sqlite3`` to salvage what is left. Returns the new path of the database.
    """
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    for suffix in ("", *COMPANIONS):
        source = path.with_name(path.name + suffix)
        if source.exists() or source.is_symlink():
            os.replace(source, target.with_name(target.name + suffix))
    return target


class SqliteFile:
    """A connection to one database file, with the schema applied."""

    def __init__(self, path: Path, schema: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        statements = [s for s in schema.split(";") if s.strip()]
        try:
            private_dir(path.parent)
            if not path.exists() and not path.is_symlink():
                _create(path, statements)
            check_file(path)
            if stat.S_IMODE(path.stat().st_mode) & 0o077:  # made by an older aegis
                path.chmod(FILE_MODE)
            self._db = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
        except StateError:
            raise
        except (sqlite3.Error, OSError) as exc:
            self._raise(exc)
        try:
            self._db.row_factory = sqlite3.Row
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._check_identity(statements)
            with self.write() as db:
                # Statement by statement: executescript would commit this transaction.
                for statement in statements:
                    db.execute(statement)
        except BaseException as exc:
            self._db.close()
            if isinstance(exc, sqlite3.Error):
                self._raise(exc)
            raise

    def _check_identity(self, statements: list[str]) -> None:
        """Refuse a valid SQLite file that aegis did not make (or whose pages are lost)."""
        (found,) = self._read_one("PRAGMA application_id")
        if found == APPLICATION_ID:
            return
        tables = {row[0] for row in self.read("SELECT name FROM sqlite_master")}
        main = re.search(r"CREATE TABLE IF NOT EXISTS (\w+)", statements[0])
        if found == 0 and main is not None and main.group(1) in tables:
            # Made by an aegis from before the application id: adopt it.
            with self.write() as db:
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            return
        what = "it holds no tables" if not tables else "aegis did not make it"
        raise damaged(self.path, f"it is a SQLite database, but {what}")

    def _read_one(self, sql: str) -> tuple[Any, ...]:
        rows = self.read(sql)
        return tuple(rows[0])

    def _raise(self, exc: sqlite3.Error | OSError) -> NoReturn:
        error = state_error(self.path, exc)
        if error is None:
            raise exc
        raise error from exc

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, else rolled back.

        SQLite's errors come out as :class:`StateError` where they are about the file
        (damaged, disk full, unwritable).
        """
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    with suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                self._raise(exc)

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """The rows of one query (a consistent snapshot)."""
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                self._raise(exc)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _create(path: Path, statements: list[str]) -> None:
    """Make the database at ``path`` whole, or leave the one another process made first."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident():x}.new")
    os.close(open_private(temporary, os.O_WRONLY | os.O_TRUNC))
    try:
        db = sqlite3.connect(temporary, isolation_level=None)
        try:
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("BEGIN IMMEDIATE")
            for statement in statements:
                db.execute(statement)
            db.execute("COMMIT")
        finally:
            db.close()  # the last connection checkpoints the -wal file into the database
        with suppress(FileExistsError):  # no-clobber: another process's database wins
            os.link(temporary, path)
    finally:
        for suffix in ("", *COMPANIONS):
            temporary.with_name(temporary.name + suffix).unlink(missing_ok=True)
