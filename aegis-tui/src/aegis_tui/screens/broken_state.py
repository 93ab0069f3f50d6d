"""What the TUI shows when ``.aegis/tui.json`` is damaged: the reason, and a way out."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from aegis_tui.state import BROKEN_SUFFIX


class BrokenStateScreen(ModalScreen[bool]):
    """Enter starts fresh (the damaged file is kept aside); ``q`` quits and leaves it alone."""

    DEFAULT_CSS = """
    BrokenStateScreen {
        align: center middle;
    }
    BrokenStateScreen > Vertical {
        width: 76;
        height: auto;
        border: round $error;
        background: $surface;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        ("enter,f", "answer(True)", "Start fresh"),
        ("q,escape", "answer(False)", "Quit"),
    ]

    def __init__(self, path: Path, reason: str, *, root: Path | None = None) -> None:
        super().__init__()
        self.path = path
        self.reason = reason
        self.shown = path.relative_to(root) if root and path.is_relative_to(root) else path
        """The path as shown: relative to the project's root when it is inside it."""

    def compose(self) -> ComposeResult:
        aside = self.path.with_name(self.path.name + BROKEN_SUFFIX)
        with Vertical():
            yield Static(Text("The saved tabs cannot be restored", style="bold red"))
            yield Static(Text(f"{self.shown} {self.reason}."))
            yield Static(
                Text(
                    f"enter: start fresh (the damaged file is kept as {aside.name})\n"
                    "q: quit and leave the file as it is",
                    style="dim",
                )
            )

    def action_answer(self, fresh: bool) -> None:
        self.dismiss(fresh)
