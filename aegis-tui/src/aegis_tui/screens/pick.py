"""Choosing one of a few named things (a workflow run's sessions): enter picks, escape cancels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


class Pick(ModalScreen[str | None]):
    """A titled list of ``(id, label)`` choices; dismissed with the chosen id or ``None``."""

    DEFAULT_CSS = """
    Pick {
        align: center middle;
    }
    Pick > Vertical {
        width: 64;
        max-width: 100%;
        height: auto;
        max-height: 80%;
        border: round $accent;
        background: $surface;
    }
    Pick OptionList {
        height: auto;
        max-height: 20;
        border: none;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [("escape", "cancel", "Cancel")]

    def __init__(self, title: str, choices: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.choices = list(choices)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(f" {self.title_text}", style="bold"))
            yield OptionList(*(Option(label, id=key) for key, label in self.choices))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
