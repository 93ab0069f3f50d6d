"""What ``aegis usage`` shows: totals per group over a window, and where the budgets stand.

Built from the ledger and the project's declarations alone, so that it needs no
daemon (and the daemon's ``GET /v1/usage`` answers the same thing).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from aegis.usage.ceilings import project_reason, queue_reason
from aegis.usage.ledger import GroupBy, Total, UsageLedger, open_ledger, utc_day

if TYPE_CHECKING:
    from aegis.config.loader import Project

_RELATIVE = re.compile(r"(\d+)([mhdw])")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
WHEN_HELP = (
    "a UTC date (2026-12-01), a time (2026-12-01T09:30, UTC unless it says +02:00), "
    "today, yesterday, or an age: 30m, 12h, 7d, 2w"
)


def short_tokens(count: int) -> str:
    """A token count in a few characters: ``950``, ``12.3k``, ``4.1M`` (tables, status lines)."""
    if count < 1000:
        return str(count)
    if count < 1_000_000:
        return f"{count / 1000:.1f}k"
    return f"{count / 1_000_000:.1f}M"


def parse_when(text: str, *, end: bool = False, now: float | None = None) -> float:
    """Epoch seconds of ``text`` (see :data:`WHEN_HELP`); ``ValueError`` if unreadable.

    With ``end`` (an ``--until``), a bare date or ``today``/``yesterday`` means the end
    of that day, so that ``--since 2026-12-01 --until 2026-12-01`` is that whole day.
    """
    now = time.time() if now is None else now
    value = text.strip().lower()
    relative = _RELATIVE.fullmatch(value)
    if relative is not None:
        return now - int(relative[1]) * _UNITS[relative[2]]
    today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day: datetime | None = None
    if value == "today":
        day = today
    elif value == "yesterday":
        day = today - timedelta(days=1)
    elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        day = datetime.fromisoformat(value).replace(tzinfo=UTC)
    if day is not None:
        return (day + timedelta(days=1) if end else day).timestamp()
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a time aegis reads: use {WHEN_HELP}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class BudgetState(BaseModel):
    """One ceiling of the project and what was spent against it."""

    scope: str
    """``daily`` (the project, today), ``queue`` (a queue, today), ``workflow_run``
    (each run; ``spent`` is not shown: it is per run)."""
    name: str | None = None
    ceiling: str
    spent: Total | None = None
    reached: str | None = None
    """Why it is reached (then what it covers is stopped), or ``None``."""


class UsageReport(BaseModel):
    """The answer of ``aegis usage`` (``--json`` prints it)."""

    by: str | None
    since: float | None = None
    until: float | None = None
    groups: list[Total]
    total: Total
    budgets: list[BudgetState] = []
    provider_limits: dict[str, int] = {}


def usage_report(
    project: Project,
    *,
    by: GroupBy | None = "day",
    since: float | None = None,
    until: float | None = None,
    now: float | None = None,
) -> UsageReport:
    """Totals of the project's recorded turns, and its budgets today. Blocks (SQLite)."""
    ledger = open_ledger(project.state_dir)
    try:
        return build_report(ledger, project, by=by, since=since, until=until, now=now)
    finally:
        if ledger is not None:
            ledger.close()


def build_report(
    ledger: UsageLedger | None,
    project: Project,
    *,
    by: GroupBy | None = "day",
    since: float | None = None,
    until: float | None = None,
    now: float | None = None,
) -> UsageReport:
    """:func:`usage_report` on an open ledger (``None``: nothing recorded yet)."""
    day = utc_day(time.time() if now is None else now)
    if ledger is None:
        groups, total = [], Total()
    else:
        groups = ledger.totals(by, since=since, until=until) if by is not None else []
        total = ledger.totals(None, since=since, until=until)[0]
    limits = project.limits
    budgets: list[BudgetState] = []
    if limits.daily is not None:
        budgets.append(
            BudgetState(
                scope="daily",
                ceiling=limits.daily.describe(),
                spent=ledger.spent(day=day) if ledger else Total(),
                reached=project_reason(ledger, limits, day) if ledger else None,
            )
        )
    for name, queue in sorted(project.queues.items()):
        if queue.budget is None:
            continue
        spent = ledger.spent(day=day, queue=name) if ledger else Total()
        reached = queue.budget.reached(spent.usage)
        budgets.append(
            BudgetState(
                scope="queue",
                name=name,
                ceiling=queue.budget.describe(),
                spent=spent,
                reached=queue_reason(ledger, limits, queue, day) if ledger and reached else None,
            )
        )
    if limits.workflow_run is not None:
        budgets.append(BudgetState(scope="workflow_run", ceiling=limits.workflow_run.describe()))
    for name, budget in sorted(limits.workflows.items()):
        budgets.append(BudgetState(scope="workflow_run", name=name, ceiling=budget.describe()))
    return UsageReport(
        by=by,
        since=since,
        until=until,
        groups=groups,
        total=total,
        budgets=budgets,
        provider_limits=dict(limits.providers),
    )


def as_json(report: UsageReport) -> dict[str, Any]:
    """The JSON form, each total with its ``tokens`` (input + output) added."""
    data = report.model_dump()
    pairs = [(report.total, data["total"]), *zip(report.groups, data["groups"], strict=True)]
    for total, raw in pairs:
        raw["tokens"] = total.tokens
    return data
