"""The usage ledger: one row per agent turn, in ``.aegis/usage.db``.

Every turn a session of the project's runtime ends (its ``TurnEnd``) is a row: when
(``at``, and its UTC ``day``), which session, agent profile and provider, the queue
and task when the session was a queue's worker, the workflow run when the session
belonged to one, and the turn's usage (tokens and the cost the CLI reported). It is
the one place ``aegis usage`` and the budgets read: totals are sums of these rows,
and each row is the ``usage`` of the turn's ``turn_end`` record in the session's
transcript.

The database is shared by the project's processes (the daemon, ``aegis --no-daemon``
commands) like ``queue.db``; see :mod:`aegis.queue._sqlite` for its settings. Its
methods block: call them from a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from aegis.events import Usage
from aegis.queue._sqlite import SqliteFile

DB_NAME = "usage.db"

GroupBy = Literal["session", "profile", "provider", "queue", "run", "day"]
"""What ``aegis usage --by`` totals per."""
GROUPS: tuple[GroupBy, ...] = ("day", "session", "profile", "provider", "queue", "run")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    id                 INTEGER PRIMARY KEY,
    at                 REAL NOT NULL,          -- epoch seconds, when the turn ended
    day                TEXT NOT NULL,          -- its UTC date, YYYY-MM-DD
    session            TEXT NOT NULL,
    profile            TEXT NOT NULL,
    provider           TEXT NOT NULL,
    model              TEXT,
    queue              TEXT,
    task               TEXT,
    run                TEXT,
    stop_reason        TEXT NOT NULL,
    input_tokens       INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    cache_read_tokens  INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    cost_usd           REAL
);
CREATE INDEX IF NOT EXISTS turns_by_day ON turns (day, queue);
CREATE INDEX IF NOT EXISTS turns_by_run ON turns (run);
CREATE INDEX IF NOT EXISTS turns_by_at ON turns (at);
"""

_SUMS = (
    "COUNT(*) AS turns, COALESCE(SUM(input_tokens), 0) AS input_tokens, "
    "COALESCE(SUM(output_tokens), 0) AS output_tokens, "
    "COALESCE(SUM(cache_read_tokens), 0) AS cache_read_tokens, "
    "COALESCE(SUM(cache_write_tokens), 0) AS cache_write_tokens, SUM(cost_usd) AS cost_usd"
)


def utc_day(at: float) -> str:
    """The UTC date of epoch seconds ``at``: ``"2026-12-04"`` (budgets reset at 00:00 UTC)."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class TurnRecord:
    """One turn of one session, with who it counts for."""

    at: float
    session: str
    profile: str
    provider: str
    usage: Usage
    stop_reason: str = "end_turn"
    model: str | None = None
    queue: str | None = None
    task: str | None = None
    run: str | None = None


class Total(BaseModel):
    """What a group of turns spent: ``key`` names the group (a day, a session, ...;
    ``None`` for turns outside any queue or run, and for the grand total)."""

    model_config = ConfigDict(frozen=True)

    key: str | None = None
    turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = None
    """The sum of the costs the CLIs reported (``None``: no turn reported one)."""

    @property
    def tokens(self) -> int:
        """Input plus output tokens (what a ``Budget(tokens=...)`` counts)."""
        return self.input_tokens + self.output_tokens

    @property
    def usage(self) -> Usage:
        return Usage(
            self.input_tokens,
            self.output_tokens,
            self.cache_read_tokens,
            self.cache_write_tokens,
            self.cost_usd,
        )

    @classmethod
    def _of(cls, row: Any, key: str | None = None) -> Total:
        return cls(
            key=key,
            turns=row["turns"],
            input_tokens=row["input_tokens"],
            output_tokens=row["output_tokens"],
            cache_read_tokens=row["cache_read_tokens"],
            cache_write_tokens=row["cache_write_tokens"],
            cost_usd=row["cost_usd"],
        )


class UsageLedger:
    """The ``turns`` table of one project's ``usage.db``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = SqliteFile(path, _SCHEMA)

    @classmethod
    def for_state_dir(cls, state_dir: Path) -> UsageLedger:
        return cls(state_dir / DB_NAME)

    def add(self, turn: TurnRecord) -> None:
        """Record one turn."""
        u = turn.usage
        with self._file.write() as db:
            db.execute(
                "INSERT INTO turns (at, day, session, profile, provider, model, queue, task,"
                " run, stop_reason, input_tokens, output_tokens, cache_read_tokens,"
                " cache_write_tokens, cost_usd)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    turn.at,
                    utc_day(turn.at),
                    turn.session,
                    turn.profile,
                    turn.provider,
                    turn.model,
                    turn.queue,
                    turn.task,
                    turn.run,
                    turn.stop_reason,
                    u.input_tokens,
                    u.output_tokens,
                    u.cache_read_tokens,
                    u.cache_write_tokens,
                    u.cost_usd,
                ),
            )

    def totals(
        self,
        by: GroupBy | None = None,
        *,
        since: float | None = None,
        until: float | None = None,
    ) -> list[Total]:
        """What turns ended in ``[since, until)`` spent, per ``by`` (one grand total
        without it), ordered by key (days and runs oldest first)."""
        where, params = _window(since, until)
        if by is None:
            return [Total._of(self._file.read(f"SELECT {_SUMS} FROM turns{where}", params)[0])]
        if by not in GROUPS:
            raise ValueError(f"cannot total by {by!r} (choose one of {', '.join(GROUPS)})")
        rows = self._file.read(
            f"SELECT {by} AS key, {_SUMS} FROM turns{where} GROUP BY {by} "
            f"ORDER BY {by} IS NULL, {by}",
            params,
        )
        return [Total._of(row, row["key"]) for row in rows]

    def spent(
        self,
        *,
        day: str | None = None,
        queue: str | None = None,
        run: str | None = None,
    ) -> Total:
        """What the turns of ``day`` (a UTC date), of ``queue``, of ``run`` spent
        (each given filter applies)."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("day", day), ("queue", queue), ("run", run)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return Total._of(self._file.read(f"SELECT {_SUMS} FROM turns{where}", tuple(params))[0])

    def turns(self, *, since: float | None = None, until: float | None = None) -> list[TurnRecord]:
        """The turns ended in ``[since, until)``, oldest first."""
        where, params = _window(since, until)
        rows = self._file.read(f"SELECT * FROM turns{where} ORDER BY at, id", params)
        return [
            TurnRecord(
                at=row["at"],
                session=row["session"],
                profile=row["profile"],
                provider=row["provider"],
                usage=Usage(
                    row["input_tokens"],
                    row["output_tokens"],
                    row["cache_read_tokens"],
                    row["cache_write_tokens"],
                    row["cost_usd"],
                ),
                stop_reason=row["stop_reason"],
                model=row["model"],
                queue=row["queue"],
                task=row["task"],
                run=row["run"],
            )
            for row in rows
        ]

    def close(self) -> None:
        self._file.close()


def _window(since: float | None, until: float | None) -> tuple[str, tuple[Any, ...]]:
    clauses: list[str] = []
    params: list[Any] = []
    if since is not None:
        clauses.append("at >= ?")
        params.append(since)
    if until is not None:
        clauses.append("at < ?")
        params.append(until)
    return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), tuple(params)


def open_ledger(state_dir: Path) -> UsageLedger | None:
    """The project's ledger if it has one (reading never creates it)."""
    path = state_dir / DB_NAME
    return UsageLedger(path) if path.exists() else None
