"""The working line under the transcript: what the agent is doing while its turn runs."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from aegis_tui import formatting
from aegis_tui.tab import Tab

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
SPIN_RATE = 10.0
"""Spinner frames a second."""


def working_text(tab: Tab, now: float) -> Text:
    """``⠹ running bash · 12s · esc to interrupt``."""
    elapsed = tab.turn_time(now) or 0.0
    frame = SPINNER[int(now * SPIN_RATE) % len(SPINNER)]
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{frame} ", "bold dodger_blue1")
    text.append(tab.activity or "working", "bold")
    text.append(f" · {formatting.duration(elapsed)}", "dim")
    text.append(" · esc to interrupt", "dim italic")
    return text


class WorkingIndicator(Static):
    """Shown while the active tab's agent works; hidden when its turn ends."""

    DEFAULT_CSS = """
    WorkingIndicator {
        height: 1;
        padding: 0 1;
        background: $surface;
        display: none;
    }
    """

    def show(self, tab: Tab | None, now: float) -> None:
        """Draw the activity of ``tab`` at ``now``; hide the line when it is not busy."""
        busy = tab is not None and tab.state == "busy"
        self.display = busy
        if tab is not None and busy:
            self.update(working_text(tab, now))
