"""``aegis repair``: get a project going again after its state on disk was damaged.

Damage is never repaired by deleting: a damaged database (empty, truncated, not
SQLite, not aegis's) is renamed to ``<name>.damaged-<UTC time>`` with its ``-wal``
and ``-shm`` files, where ``sqlite3`` can still salvage rows from it, and an empty
database takes its place. A file named ``.aegis`` (where the state folder belongs)
is renamed the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from aegis.errors import StateError
from aegis.private_files import private_dir


class _Store(Protocol):
    def close(self) -> None: ...


@dataclass
class Repair:
    """What ``aegis repair`` found at one path, and what it did."""

    path: Path
    problem: str | None = None
    """Why it was damaged (``None``: it was fine)."""
    moved_to: Path | None = None
    """Where the damaged file now is."""


def _stores() -> dict[str, Callable[[Path], _Store]]:
    from aegis.inbox import DB_NAME as INBOX_DB
    from aegis.inbox import InboxStore
    from aegis.questions.store import DB_NAME as QUESTIONS_DB
    from aegis.questions.store import QuestionStore
    from aegis.queue.sqlite_backend import DB_NAME as QUEUE_DB
    from aegis.queue.sqlite_backend import SqliteQueueBackend
    from aegis.usage.ledger import DB_NAME as USAGE_DB
    from aegis.usage.ledger import UsageLedger

    return {
        QUEUE_DB: SqliteQueueBackend,
        INBOX_DB: InboxStore,
        QUESTIONS_DB: QuestionStore,
        USAGE_DB: UsageLedger,
    }


def repair_state(state_dir: Path) -> list[Repair]:
    """Check ``state_dir`` and its databases; move whatever is damaged aside."""
    from aegis.queue._sqlite import move_aside

    done: list[Repair] = []
    if (state_dir.exists() or state_dir.is_symlink()) and not state_dir.is_dir():
        done.append(Repair(state_dir, "not a folder", move_aside(state_dir)))
    private_dir(state_dir)
    for name, open_store in _stores().items():
        path = state_dir / name
        try:
            open_store(path).close()
            done.append(Repair(path))
            continue
        except StateError as exc:
            if not exc.damaged:
                raise
            problem = exc.message.removeprefix(f"{path} is damaged: ")
        moved = move_aside(path)
        open_store(path).close()
        done.append(Repair(path, problem, moved))
    return done
