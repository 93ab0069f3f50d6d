"""The queue strip: one line with each queue's running, queued, done and failed tasks, the
queues a budget holds, and what the project spent today."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text
from textual.widgets import Static

from aegis.usage.report import short_tokens
from aegis_tui import formatting
from aegis_tui.needs_you import NEEDS_YOU

COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("running", "running", "dodger_blue1"),
    ("queued", "queued", "yellow"),
    ("done", "done", "green"),
    ("failed", "failed", "red"),
)
"""Status, label and colour of each count, in the order shown."""


class QueueStrip(Static):
    """Per queue: running, queued, done and failed task counts."""

    DEFAULT_CSS = """
    QueueStrip {
        height: 1;
        background: $boost;
    }
    """

    def show(
        self,
        queues: Sequence[str],
        counts: Mapping[str, Mapping[str, int]],
        waiting: int = 0,
        today: Mapping[str, Any] | None = None,
    ) -> None:
        """Draw the counts of the declared ``queues`` (``counts``: ``{queue: {status: n}}``),
        after how many approvals and questions wait for a person (``waiting``), if any,
        and, given ``today``'s usage report (``GET /v1/usage?since=today``), what the
        project spent today and the queues a budget holds."""
        text = Text(no_wrap=True, overflow="ellipsis")
        if waiting:
            text.append(f" {NEEDS_YOU}: {waiting} waiting, f8 ", "bold black on yellow")
        text.append_text(strip_text(queues, counts, today))
        self.update(text)


def strip_text(
    queues: Sequence[str],
    counts: Mapping[str, Mapping[str, int]],
    today: Mapping[str, Any] | None = None,
) -> Text:
    """The strip's line for ``queues``."""
    text = Text(no_wrap=True, overflow="ellipsis")
    total = (today or {}).get("total") or {}
    # Shown once it means money or a ceiling: a cost reported today, or budgets declared.
    if today is not None and (total.get("cost_usd") is not None or today.get("budgets")):
        _spent_today(text, total)
    if not queues:
        text.append(" no queues declared in .aegis.py", "dim")
        return text
    held = (today or {}).get("held") or {}
    for number, name in enumerate(queues):
        of_queue = counts.get(name, {})
        text.append(" │ " if number else " ", "dim")
        text.append(f"{name}:", "bold")
        for status, label, colour in COLUMNS:
            count = of_queue.get(status, 0)
            text.append(f" {count} ", f"bold {colour}" if count else "dim")
            text.append(label, "dim")
        if name in held:  # its budget is reached: `aegis queue list` says why
            text.append(" held", "bold yellow")
    return text


def _spent_today(text: Text, total: Mapping[str, Any]) -> None:
    text.append(" today ", "dim")
    text.append(formatting.cost(total.get("cost_usd")), "bold")
    text.append(f" {short_tokens(int(total.get('tokens') or 0))} tok", "dim")
    text.append(" │", "dim")
