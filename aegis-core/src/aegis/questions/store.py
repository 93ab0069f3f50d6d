"""Where questions are kept: ``<state_dir>/questions.db``, shared by the project's processes.

One SQLite file with the settings of aegis's other stores (:mod:`aegis.queue._sqlite`):
a question asked is on disk before the asker is told its id, so it survives a
``kill -9`` of the runtime, and any process of the project (the daemon, an
``aegis --no-daemon`` command) can list and answer it. Settling a question is one
conditional update (``WHERE status = 'pending'``): of two answers, or an answer and
a timeout, exactly one wins, whichever processes they come from.

Synchronous: callers use worker threads.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from pathlib import Path

from aegis.questions.record import Question, QuestionStatus
from aegis.queue._sqlite import SqliteFile

DB_NAME = "questions.db"
KEEP_CLOSED_S = 30 * 24 * 3600
"""Closed questions (answered, expired, cancelled) are kept this long, then pruned."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
    id           TEXT PRIMARY KEY,
    asker        TEXT NOT NULL,           -- workflow:<run id> or agent:<handle>
    seq          INTEGER NOT NULL,        -- the n-th question of its run's attempt (0: an agent's)
    question     TEXT NOT NULL,
    options      TEXT,                    -- a JSON list, when the answer is one of them
    status       TEXT NOT NULL,
    asked_at     REAL NOT NULL,
    deadline     REAL,
    answer       TEXT,
    answered_by  TEXT,
    answered_at  REAL,
    told_at      REAL,                    -- an agent's: when its answer or expiry was sent to it
    changed_at   REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS questions_open ON questions (status, asked_at);
CREATE INDEX IF NOT EXISTS questions_asker ON questions (asker, seq)
"""


class QuestionStore:
    """The questions of one project (synchronous; callers use worker threads)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = SqliteFile(path, _SCHEMA)

    @classmethod
    def for_state_dir(cls, state_dir: Path) -> QuestionStore:
        return cls(state_dir / DB_NAME)

    def add(
        self,
        asker: str,
        question: str,
        *,
        options: list[str] | None = None,
        timeout: float | None = None,
        seq: int = 0,
    ) -> Question:
        """Keep a new pending question (expiring ``timeout`` seconds from now, if given) and
        return it, with its new id."""
        now = time.time()
        deadline = None if timeout is None else now + timeout
        with self._file.write() as db:
            while True:
                question_id = f"q{secrets.token_hex(3)}"
                taken = db.execute("SELECT 1 FROM questions WHERE id = ?", (question_id,))
                if taken.fetchone() is None:
                    break
            db.execute(
                "INSERT INTO questions (id, asker, seq, question, options, status, asked_at,"
                " deadline, changed_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
                (
                    question_id,
                    asker,
                    seq,
                    question,
                    None if options is None else json.dumps(options),
                    now,
                    deadline,
                    now,
                ),
            )
        found = self.get(question_id)
        assert found is not None
        return found

    def get(self, question_id: str) -> Question | None:
        rows = self._file.read("SELECT * FROM questions WHERE id = ?", (question_id,))
        return _question(rows[0]) if rows else None

    def asked_before(self, asker: str, question: str, options: list[str] | None) -> list[Question]:
        """The questions ``asker`` asked with this text and these options that are pending
        or answered, oldest first (what a resumed workflow run asks again)."""
        rows = self._file.read(
            "SELECT * FROM questions WHERE asker = ? AND question = ? AND options IS ?"
            " AND status IN ('pending', 'answered') ORDER BY asked_at, id",
            (asker, question, None if options is None else json.dumps(options)),
        )
        return [_question(row) for row in rows]

    def list_questions(self, *, pending_only: bool = True, limit: int = 200) -> list[Question]:
        """Pending questions (or, with ``pending_only=False``, the latest ``limit`` of all),
        oldest first."""
        if pending_only:
            rows = self._file.read(
                "SELECT * FROM questions WHERE status = 'pending' ORDER BY asked_at, id"
            )
        else:
            rows = self._file.read(
                "SELECT * FROM (SELECT * FROM questions ORDER BY asked_at DESC, id DESC LIMIT ?)"
                " ORDER BY asked_at, id",
                (limit,),
            )
        return [_question(row) for row in rows]

    def settle(
        self,
        question_id: str,
        status: QuestionStatus,
        *,
        answer: str | None = None,
        by: str | None = None,
    ) -> tuple[Question | None, bool]:
        """Settle pending question ``question_id`` as ``status`` (with ``answer``, ``by``).

        Returns the question as it is now, and whether this call settled it (``False``:
        it was settled already, by whatever came first, or it does not exist).
        """
        now = time.time()
        with self._file.write() as db:
            changed = db.execute(
                "UPDATE questions SET status = ?, answer = ?, answered_by = ?, answered_at = ?,"
                " changed_at = ? WHERE id = ? AND status = 'pending'",
                (status.value, answer, by, now, now, question_id),
            ).rowcount
        return self.get(question_id), changed == 1

    def due(self, now: float) -> list[Question]:
        """Pending questions whose deadline has passed."""
        rows = self._file.read(
            "SELECT * FROM questions WHERE status = 'pending' AND deadline IS NOT NULL"
            " AND deadline <= ? ORDER BY deadline",
            (now,),
        )
        return [_question(row) for row in rows]

    def untold(self) -> list[Question]:
        """Agents' questions answered or expired whose asker has not been sent the news yet."""
        rows = self._file.read(
            "SELECT * FROM questions WHERE asker LIKE 'agent:%' AND told_at IS NULL"
            " AND status IN ('answered', 'expired') ORDER BY answered_at"
        )
        return [_question(row) for row in rows]

    def told(self, question_id: str) -> None:
        with self._file.write() as db:
            db.execute("UPDATE questions SET told_at = ? WHERE id = ?", (time.time(), question_id))

    def fingerprint(self) -> tuple[int, float]:
        """Changes whenever a question is added or closed, by any process."""
        rows = self._file.read("SELECT COUNT(*), COALESCE(MAX(changed_at), 0) FROM questions")
        return int(rows[0][0]), float(rows[0][1])

    def prune(self, older_than: float) -> None:
        with self._file.write() as db:
            db.execute(
                "DELETE FROM questions WHERE status != 'pending' AND changed_at < ?",
                (older_than,),
            )

    def close(self) -> None:
        self._file.close()


def _question(row: sqlite3.Row) -> Question:
    return Question(
        id=row["id"],
        asker=row["asker"],
        seq=row["seq"],
        question=row["question"],
        options=None if row["options"] is None else json.loads(row["options"]),
        status=QuestionStatus(row["status"]),
        asked_at=row["asked_at"],
        deadline=row["deadline"],
        answer=row["answer"],
        answered_by=row["answered_by"],
        answered_at=row["answered_at"],
    )
