"""The queue strip: one line with each queue's running, queued, done and failed tasks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text
from textual.widgets import Static

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
        self, queues: Sequence[str], counts: Mapping[str, Mapping[str, int]], waiting: int = 0
    ) -> None:
        """Draw the counts of the declared ``queues`` (``counts``: ``{queue: {status: n}}``),
        after how many approvals and questions wait for a person (``waiting``), if any."""
        text = Text(no_wrap=True, overflow="ellipsis")
        if waiting:
            text.append(f" {NEEDS_YOU}: {waiting} waiting, f8 ", "bold black on yellow")
        text.append_text(strip_text(queues, counts))
        self.update(text)


def strip_text(queues: Sequence[str], counts: Mapping[str, Mapping[str, int]]) -> Text:
    """The strip's line for ``queues``."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if not queues:
        text.append(" no queues declared in .aegis.py", "dim")
        return text
    for number, name in enumerate(queues):
        of_queue = counts.get(name, {})
        text.append(" │ " if number else " ", "dim")
        text.append(f"{name}:", "bold")
        for status, label, colour in COLUMNS:
            count = of_queue.get(status, 0)
            text.append(f" {count} ", f"bold {colour}" if count else "dim")
            text.append(label, "dim")
    return text
