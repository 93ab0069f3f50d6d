"""The profile picker: choose the agent profile of a new tab."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from aegis.config.agent import Agent


class ProfilePicker(ModalScreen[str | None]):
    """A list of the project's agent profiles; enter opens a tab, escape cancels."""

    DEFAULT_CSS = """
    ProfilePicker {
        align: center middle;
    }
    ProfilePicker > Vertical {
        width: 64;
        height: auto;
        max-height: 80%;
        border: round $accent;
        background: $surface;
    }
    ProfilePicker OptionList {
        height: auto;
        max-height: 20;
        border: none;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [("escape", "cancel", "Cancel")]

    def __init__(self, agents: Mapping[str, Agent], default: str) -> None:
        super().__init__()
        self.agents = dict(agents)
        self.default = default

    def compose(self) -> ComposeResult:
        options = []
        for name, agent in self.agents.items():
            label = Text.assemble((name, "bold"))
            if name == self.default:
                label.append(" (default)", "dim")
            label.append(f"  {agent.harness}" + (f"/{agent.model}" if agent.model else ""), "cyan")
            if agent.description:
                label.append(f"\n  {agent.description}", "dim")
            options.append(Option(label, id=name))
        with Vertical():
            yield Static(Text(" New tab: choose a profile", style="bold"))
            yield OptionList(*options)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
