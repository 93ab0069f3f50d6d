"""ctrl+w on a terminal tab: close the tab (the terminal goes on), or the terminal too."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.widgets import Static

from aegis_tui.screens.choice import ChoiceScreen


class CloseTerminal(ChoiceScreen):
    """``enter``/``d`` detaches (the default), ``k`` kills the terminal, ``escape`` stays.

    Dismissed with ``"detach"``, ``"kill"`` or ``None``.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        ("enter,d", "choose('detach')", "Close the tab"),
        ("k", "choose('kill')", "Kill the terminal"),
        ("escape", "choose(None)", "Stay"),
    ]

    def __init__(self, name: str, running: str | None = None) -> None:
        super().__init__()
        self.terminal = name
        self.running = running

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(f"Close the tab of terminal {self.terminal}?", style="bold"))
            if self.running:
                yield Static(Text(f"Running in it: {self.running}", style="dim"))
            yield Static(
                Text.assemble(
                    "\n",
                    ("enter ", "bold"),
                    " close the tab (the default): the terminal goes on in the daemon;\n",
                    "       f6 opens it again, `aegis term attach` reaches it\n",
                    ("k     ", "bold"),
                    " kill the terminal: its shell and what runs in it stop\n",
                    ("escape", "bold"),
                    " stay",
                )
            )
