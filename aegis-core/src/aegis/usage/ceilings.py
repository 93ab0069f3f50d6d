"""Whether a ceiling is reached, and the reason to show: read from the ledger.

Pure functions of the ledger, the declarations and the day, so that the daemon
(which enforces them) and ``aegis queue list`` / ``aegis usage`` without a daemon
(which show them) say the same thing. They block (SQLite): call them off the event
loop.
"""

from __future__ import annotations

from collections.abc import Mapping

from aegis.queue.declaration import Queue
from aegis.usage.budget import Limits
from aegis.usage.ledger import UsageLedger

RESET = "it resets at 00:00 UTC, or raise the budget in .aegis.py"


def project_reason(ledger: UsageLedger, limits: Limits, day: str) -> str | None:
    """Why the project's daily budget stops queues and workflows on ``day``, or ``None``."""
    if limits.daily is None:
        return None
    reached = limits.daily.reached(ledger.spent(day=day).usage)
    if reached is None:
        return None
    return f"the project's daily budget is reached ({reached} today, UTC): {RESET}"


def queue_reason(ledger: UsageLedger, limits: Limits, queue: Queue, day: str) -> str | None:
    """Why ``queue`` starts no task on ``day`` (its budget, or the project's), or ``None``."""
    if queue.budget is not None:
        reached = queue.budget.reached(ledger.spent(day=day, queue=queue.name).usage)
        if reached is not None:
            return f"queue {queue.name}'s budget is reached ({reached} today, UTC): {RESET}"
    return project_reason(ledger, limits, day)


def queue_reasons(
    ledger: UsageLedger | None, limits: Limits, queues: Mapping[str, Queue], day: str
) -> dict[str, str]:
    """``{queue: reason}`` for every queue held by a budget on ``day``."""
    if ledger is None:
        return {}
    held = {}
    for name, queue in queues.items():
        reason = queue_reason(ledger, limits, queue, day)
        if reason is not None:
            held[name] = reason
    return held


def run_reason(
    ledger: UsageLedger, limits: Limits, run_id: str, workflow: str, day: str
) -> str | None:
    """Why workflow run ``run_id`` (of ``workflow``) may spend no more, or ``None``."""
    budget = limits.for_run(workflow)
    if budget is not None:
        reached = budget.reached(ledger.spent(run=run_id).usage)
        if reached is not None:
            return f"the budget of workflow run {run_id} is reached ({reached})"
    return project_reason(ledger, limits, day)
