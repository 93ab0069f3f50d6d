"""Budgets and limits as written in ``.aegis.py``: what is accepted, what is refused and how,
and the ``--since``/``--until`` times ``aegis usage`` reads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from aegis.config import ConfigError
from aegis.config.loader import load_project
from aegis.events import Usage
from aegis.usage import Budget, Limits
from aegis.usage.report import parse_when

HEAD = """
from aegis.builtins.scripted import Scripted
from aegis.config import Agent
from aegis.queue import Queue
from aegis.usage import Budget, Limits

agents = {"a": Agent(provider=Scripted())}
default_agent = "a"
"""


def load(tmp_path: Path, body: str) -> object:
    (tmp_path / ".aegis.py").write_text(HEAD + body)
    return load_project([tmp_path / ".aegis.py"])


def test_budgets_and_limits_are_read_from_the_config(tmp_path: Path) -> None:
    project = load(
        tmp_path,
        "queues = [Queue('q', 'a', 2, budget=Budget(usd=5))]\n"
        "limits = Limits(daily=Budget(tokens=1_000_000), workflow_run=Budget(usd=1),\n"
        "                workflows={'nightly': Budget(usd=3)}, providers={'claude': 2})\n",
    )
    assert project.queues["q"].budget == Budget(usd=5)  # type: ignore[attr-defined]
    limits = project.limits  # type: ignore[attr-defined]
    assert limits.for_run("nightly") == Budget(usd=3)
    assert limits.for_run("other") == Budget(usd=1)
    assert limits.providers == {"claude": 2}
    assert load(tmp_path, "").limits == Limits()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "message", "hint"),
    [
        ("limits = {'daily': 5}\n", "`limits` must be a Limits, not dict", "limits = Limits("),
        ("limit = Limits()\n", "`limit` is not a name aegis reads", "did you mean `limits`?"),
        (
            "queues = [Queue('q', 'a', 1, budget=5)]\n",
            "queue 'q': budget must be a Budget, not 5",
            "Queue(..., budget=Budget(usd=5))",
        ),
        ("limits = Limits(daily=Budget())\n", "a Budget needs a ceiling", ""),
        ("limits = Limits(providers={'claude': 0})\n", "at least 1", ""),
    ],
    ids=["limits-not-limits", "limits-misspelled", "budget-not-budget", "no-ceiling", "cap-0"],
)
def test_a_bad_budget_is_a_config_error_saying_what_to_write(
    tmp_path: Path, body: str, message: str, hint: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, body)
    assert message in str(caught.value)
    assert hint in (caught.value.hint or "")


def test_a_budget_is_reached_at_its_ceiling_in_dollars_or_tokens() -> None:
    both = Budget(usd=1, tokens=100)
    assert both.reached(Usage(40, 10, cost_usd=0.99)) is None
    assert both.reached(Usage(40, 10, cost_usd=1.0)) == "$1.00 of $1.00"
    assert both.reached(Usage(90, 10)) == "100 of 100 tokens"
    assert both.describe() == "$1.00 or 100 tokens"


def test_since_and_until_read_dates_times_and_ages() -> None:
    now = datetime(2026, 12, 4, 15, 30, tzinfo=UTC).timestamp()
    day = datetime(2026, 12, 4, tzinfo=UTC).timestamp()
    assert parse_when("today", now=now) == day
    assert parse_when("today", end=True, now=now) == day + 86400
    assert parse_when("yesterday", now=now) == day - 86400
    assert parse_when("2026-12-04", end=True, now=now) == day + 86400
    assert parse_when("2026-12-04T09:30", now=now) == day + 9.5 * 3600
    assert parse_when("2026-12-04T09:30+01:00", now=now) == day + 8.5 * 3600
    assert parse_when("90m", now=now) == now - 5400
    assert parse_when("7d", now=now) == now - 7 * 86400
    with pytest.raises(ValueError, match="not a time aegis reads"):
        parse_when("last tuesday", now=now)
