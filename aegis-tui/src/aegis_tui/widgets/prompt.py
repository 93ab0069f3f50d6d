"""The input box: one line, with a history walked by up and down."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Input


class PromptInput(Input):
    """An :class:`~textual.widgets.Input` that remembers what was sent."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", "Older message", show=False),
        Binding("down", "history(1)", "Newer message", show=False),
    ]

    def __init__(self, history: Iterable[str] = (), **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.history: list[str] = list(history)
        self._position = len(self.history)
        self._draft = ""

    def on_mount(self) -> None:
        if self.app.is_headless:
            self.cursor_blink = False  # nobody watches it blink; screenshots stay the same

    def remember(self, text: str) -> None:
        """Add ``text`` to the history (not twice in a row) and go back to a blank line."""
        if text and (not self.history or self.history[-1] != text):
            self.history.append(text)
        self._position = len(self.history)
        self._draft = ""

    def action_history(self, step: int) -> None:
        """Show the previous (``-1``) or next (``1``) message of the history."""
        if not self.history:
            return
        if self._position == len(self.history):
            self._draft = self.value  # what was being typed comes back at the end
        position = min(max(self._position + step, 0), len(self.history))
        if position == self._position:
            return
        self._position = position
        self.value = self.history[position] if position < len(self.history) else self._draft
        self.cursor_position = len(self.value)
