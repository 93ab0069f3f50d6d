"""What recording usage and checking budgets cost, on a ledger of a busy project.

A temporary ``usage.db`` gets ``TURNS`` turns one by one through
:meth:`UsageLedger.add` (each its own transaction, ``synchronous=FULL``: what the
recorder does for every turn, in a worker thread), then ``ROWS`` more in bulk (a
busy project: 100,000 turns, one every 30 s over five weeks). On that ledger: the
check a queue's dispatcher makes before each claim while a budget covers it (the
queue's budget and the project's daily budget, :func:`queue_reason`), and the
totals of ``aegis usage`` per day, session and run.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from aegis.events import Usage
from aegis.queue.declaration import Queue
from aegis.usage.budget import Budget, Limits
from aegis.usage.ceilings import queue_reason
from aegis.usage.ledger import TurnRecord, UsageLedger, utc_day
from benchmarks import Result
from benchmarks._stats import median, p90

TURNS = 1_000
ROWS = 100_000
CHECKS = 200


def _turn(i: int, now: float) -> TurnRecord:
    return TurnRecord(
        at=now - i * 30,
        session=f"s{i % 500}",
        profile="main",
        provider="claude-code",
        usage=Usage(20_000, 300, 18_000, 0, 0.01),
        queue=f"q{i % 4}",
        run=f"r{i % 300}",
    )


def run() -> list[Result]:
    with tempfile.TemporaryDirectory() as folder:
        ledger = UsageLedger.for_state_dir(Path(folder))
        try:
            return _measure(ledger)
        finally:
            ledger.close()


def _measure(ledger: UsageLedger) -> list[Result]:
    now = time.time()
    adds = []
    for i in range(TURNS):
        started = time.perf_counter()
        ledger.add(_turn(i, now))
        adds.append((time.perf_counter() - started) * 1000)
    turns = [_turn(i, now) for i in range(TURNS, TURNS + ROWS)]
    with ledger._file.write() as db:  # the bulk of history, in one transaction
        db.executemany(
            "INSERT INTO turns (at, day, session, profile, provider, queue, run, stop_reason,"
            " input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'end_turn', ?, ?, ?, ?, ?)",
            [
                (
                    t.at,
                    utc_day(t.at),
                    t.session,
                    t.profile,
                    t.provider,
                    t.queue,
                    t.run,
                    t.usage.input_tokens,
                    t.usage.output_tokens,
                    t.usage.cache_read_tokens,
                    t.usage.cache_write_tokens,
                    t.usage.cost_usd,
                )
                for t in turns
            ],
        )
    queue = Queue("q1", "main", 2, budget=Budget(usd=1e9))
    limits = Limits(daily=Budget(usd=1e9))
    day = utc_day(now)
    checks = []
    for _ in range(CHECKS):
        started = time.perf_counter()
        queue_reason(ledger, limits, queue, day)
        checks.append((time.perf_counter() - started) * 1000)
    results = [
        Result("record one turn: median", median(adds), "ms", f"p90 {p90(adds):.2f} ms"),
        Result(
            f"budget check before a claim ({ROWS + TURNS:,} turns): median",
            median(checks),
            "ms",
            f"p90 {p90(checks):.2f} ms; the queue's budget and the daily budget",
        ),
    ]
    for by in ("day", "session", "run"):
        started = time.perf_counter()
        ledger.totals(by)
        took = (time.perf_counter() - started) * 1000
        results.append(Result(f"aegis usage --by {by}, all time", took, "ms", "one query"))
    return results
