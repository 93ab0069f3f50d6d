"""The help screen: every key of the TUI."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from aegis_tui.keys import APP_KEYS, INPUT_KEYS, MAIN_KEYS, shown


def keys_table() -> Table:
    """The keys, grouped: tabs and sessions, then the input box and the mouse."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for key in (*MAIN_KEYS, *APP_KEYS):
        if key.action.startswith("switch_tab("):
            continue  # one row says it for all nine
        table.add_row(shown(key.keys), key.description)
        if key.action == "previous_tab":
            table.add_row("alt+1 … alt+9", "Go to tab 1 … 9")
    table.add_row("", "")
    for keys, description in INPUT_KEYS:
        table.add_row(keys, description)
    return table


class HelpScreen(ModalScreen[None]):
    """A list of the keys; any of escape, F1 or q closes it."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 72;
        height: auto;
        max-height: 90%;
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
            yield Static(Text("aegis: keys", style="bold"))
            yield Static(keys_table())
            yield Static(Text("escape closes this help", style="dim"))
