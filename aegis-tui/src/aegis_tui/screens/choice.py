"""A modal question answered by one key among a few: the frame the TUI's choices share."""

from __future__ import annotations

from textual.screen import ModalScreen


class ChoiceScreen(ModalScreen[str | None]):
    """A centred box of what is at stake and the keys that answer.

    A subclass gives its ``BINDINGS`` (each calling ``choose('<answer>')``, escape
    ``choose(None)``) and its ``compose``, inside a ``Vertical``; the screen is
    dismissed with the chosen answer.
    """

    DEFAULT_CSS = """
    ChoiceScreen {
        align: center middle;
    }
    ChoiceScreen > Vertical {
        width: 72;
        max-width: 100%;
        height: auto;
        border: round $warning;
        background: $surface;
        padding: 0 1;
    }
    """

    def action_choose(self, choice: str | None) -> None:
        self.dismiss(choice)
