"""ctrl+q's question when something runs: detach (the default), or stop everything."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.widgets import Static

from aegis_tui.quitting import Running
from aegis_tui.screens.choice import ChoiceScreen


class QuitChoice(ChoiceScreen):
    """Says what runs; ``enter``/``d`` detaches, ``s`` stops everything, ``escape`` stays.

    Dismissed with ``"detach"``, ``"stop"`` or ``None``.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        ("enter,d", "choose('detach')", "Detach"),
        ("s", "choose('stop')", "Stop everything"),
        ("escape", "choose(None)", "Stay"),
    ]

    def __init__(self, running: Running) -> None:
        super().__init__()
        self.running = running

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Quit aegis? This is at work in the daemon:", style="bold"))
            yield Static(Text("\n".join(f"• {line}" for line in self.running.lines())))
            yield Static(
                Text.assemble(
                    "\n",
                    ("enter ", "bold"),
                    " detach (the default): it goes on; `aegis` shows it again\n",
                    ("s     ", "bold"),
                    " stop everything: close every session, cancel tasks and runs\n",
                    ("escape", "bold"),
                    " stay",
                )
            )
