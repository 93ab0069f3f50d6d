"""The help screen: every key of the TUI, and what the tab bar and status line show."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from aegis_tui.keys import APP_KEYS, INPUT_KEYS, MAIN_KEYS, shown
from aegis_tui.needs_you import NEEDS_YOU
from aegis_tui.tab import STATE_DOTS, TERMINAL_DOT

STATUS_LINE: tuple[tuple[str, str], ...] = (
    ("model", "the model the session runs (the CLI's default when none is set)"),
    ("perm", "the permission mode of the profile"),
    ("in / out", "tokens read and written over the whole session"),
    ("cached", "the share of the input tokens read from the provider's cache"),
    ("$", "the cost the provider reports (- when it reports none)"),
    ("turn", "how long the running turn has taken (or the last one took)"),
    ("session", "how long the tab's session has been open"),
)
"""The parts of the status line, in its order, as the help screen explains them."""

DOT_MEANING = {
    "starting": "the CLI is starting",
    "ready": "waiting for your message",
    "busy": "the agent is working (escape interrupts it)",
    "failed": "the session failed; the status line says why",
    "closed": "the session has ended",
}


def keys_table(narrow: bool = False) -> Table:
    """The keys, grouped: tabs and sessions, then the input box and the mouse.

    ``narrow``: the keys' column wraps, so that the descriptions keep some room.
    """
    table = Table.grid(padding=(0, 1 if narrow else 2))
    table.add_column(style="bold cyan", no_wrap=not narrow, max_width=12 if narrow else None)
    table.add_column()
    for key in (*MAIN_KEYS, *APP_KEYS):
        if key.action.startswith("switch_tab("):
            continue  # one row says it for all nine
        table.add_row(Text(shown(key.keys)), Text(key.description))
        if key.action == "previous_tab":
            table.add_row(Text("alt+1 … alt+9"), Text("Go to tab 1 … 9"))
    table.add_row("", "")
    for keys, description in INPUT_KEYS:
        table.add_row(Text(keys), Text(description))
    return table


def screen_table() -> Table:
    """What the tab bar's dots and marks and the status line's parts mean."""
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True)
    table.add_column()
    for state, (dot, colour) in STATE_DOTS.items():
        table.add_row(Text(f"{dot} {state}", style=colour), DOT_MEANING.get(state, ""))
    dot, colour = TERMINAL_DOT
    table.add_row(
        Text(f"{dot} terminal", style=colour),
        "a shared terminal: keys go to its shell, but for f1-f3, f6, f7, ctrl+w, "
        "ctrl+q and the tab keys",
    )
    table.add_row(
        Text(NEEDS_YOU, style="bold black on yellow"),
        "the agent waits for your answer: a permission request (its prompt is above "
        "the input box) or a question (f8 lists them all)",
    )
    table.add_row(Text("✱", style="bold yellow"), "output you have not seen in that tab")
    table.add_row(Text("◂2  3▸", style="bold"), "tabs hidden left / right of the bar")
    table.add_row("", "")
    for part, meaning in STATUS_LINE:
        table.add_row(Text(part, style="bold"), meaning)
    return table


class HelpScreen(ModalScreen[None]):
    """A list of the keys; any of escape, F1 or q closes it."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 76;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $accent;
        background: $surface;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        ("escape,f1,q", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text("aegis: keys (escape closes this help)", style="bold"))
            yield Static(keys_table(), id="keys-table")
            yield Static(Text("\nThe tab bar and the status line", style="bold"))
            yield Static(screen_table())

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()  # up, down and the page keys scroll it

    def on_resize(self, event: events.Resize) -> None:
        self.query_one("#keys-table", Static).update(keys_table(narrow=event.size.width < 60))
