"""The status bar: the active session's model, permission, tokens, cost and times."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from aegis.usage.report import short_tokens
from aegis_tui import formatting
from aegis_tui.tab import Tab


class StatusBar(Static):
    """One line about the active tab's session."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        color: $text-muted;
    }
    """

    def show(self, tab: Tab | None, now: float) -> None:
        """Draw the status of ``tab`` at time ``now`` (of the app's clock)."""
        self.update(status_text(tab, now))


def status_text(tab: Tab | None, now: float) -> Text:
    """The status line of ``tab``."""
    if tab is None:
        return Text(" no session", style="dim")
    if tab.terminal is not None:
        return terminal_status(tab)
    usage = tab.usage
    cached = f"{usage.cached_share:.0%}" if usage.input_tokens else "-"
    turn = tab.turn_time(now)
    groups: list[list[tuple[str, str]]] = [
        [("", tab.model or "default model")],
        [("perm ", tab.permission)],
        [
            ("in ", short_tokens(usage.input_tokens)),
            ("out ", short_tokens(usage.output_tokens)),
            ("cached ", cached),
        ],
        [("", formatting.cost(usage.cost_usd))],
        [("turn ", formatting.duration(turn) if turn is not None else "-")],
        [("session ", formatting.duration(tab.session_time(now)))],
    ]
    text = Text(" ", no_wrap=True, overflow="ellipsis")
    for number, group in enumerate(groups):
        if number:
            text.append(" · ", "dim")
        for item, (label, value) in enumerate(group):
            text.append((" " if item else "") + label, "dim")
            text.append(value, "bold")
    if tab.state == "failed" and tab.error:
        text.append(f"  failed: {tab.error}", "bold red")
    return text


def terminal_status(tab: Tab) -> Text:
    """The status line of a terminal tab: what it is, and how to leave it."""
    text = Text(" ", no_wrap=True, overflow="ellipsis")
    text.append(f"terminal {tab.terminal}", "bold")
    if not tab.live:
        text.append(f"  ended: {tab.error or 'its shell exited'}", "bold red")
        return text
    text.append(" · shared with the agents · you type as user · ", "dim")
    text.append("alt+←/→", "bold")
    text.append(" other tabs · ", "dim")
    text.append("^w", "bold")
    text.append(" close the tab (the terminal goes on)", "dim")
    return text
