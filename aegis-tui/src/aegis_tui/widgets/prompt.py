"""The input box: a message of any number of lines, long pastes folded, and a history.

Enter sends; ctrl+j (every terminal sends it as a line feed) or alt+enter starts a
new line. A paste of more than :data:`FOLD_LINES` lines shows as one placeholder
(``[pasted 52 lines]``) that ctrl+p expands in place; what is sent is always the
text as it was pasted, placeholders replaced by their text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import TextArea

FOLD_LINES = 5
"""A paste of more lines than this shows as a placeholder."""

_PLACEHOLDER = re.compile(r"\[pasted \d+ lines(?: #\d+)?\]")


def normalise_newlines(text: str) -> str:
    """Line breaks as ``\\n``: terminals paste CR (or CR LF) for each line break."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


class PromptInput(TextArea):
    """A :class:`~textual.widgets.TextArea` that sends on enter and remembers what was sent."""

    DEFAULT_CSS = """
    PromptInput {
        height: auto;
        min-height: 3;
        max-height: 10;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+p", "expand_paste", "Expand the paste", show=False),
    ]

    NEWLINE_KEYS = frozenset({"ctrl+j", "alt+enter", "shift+enter"})
    """Keys that start a new line (ctrl+j is a line feed in every terminal)."""

    class Submitted(Message):
        """Enter was pressed: ``value`` is the message, pastes expanded (the box is
        empty again and the message is in the history)."""

        def __init__(self, prompt: PromptInput, value: str) -> None:
            super().__init__()
            self.prompt = prompt
            self.value = value

        @property
        def control(self) -> PromptInput:
            return self.prompt

    def __init__(self, history: Iterable[str] = (), **kwargs: object) -> None:
        super().__init__(soft_wrap=True, tab_behavior="focus", **kwargs)  # type: ignore[arg-type]
        self.sent: list[str] = list(history)
        self._position = len(self.sent)
        self._draft = ""
        self.pastes: dict[str, str] = {}
        """Placeholder shown in the box → the text it stands for."""

    def on_mount(self) -> None:
        if self.app.is_headless:
            self.cursor_blink = False  # nobody watches it blink; screenshots stay the same

    # --- the text ----------------------------------------------------------------------

    @property
    def value(self) -> str:
        """The message as it will be sent: every placeholder replaced by its paste."""
        return _PLACEHOLDER.sub(lambda m: self.pastes.get(m.group(0), m.group(0)), self.text)

    @value.setter
    def value(self, text: str) -> None:
        self.pastes.clear()
        self.load_text(text)
        self.move_cursor(self.document.end)

    async def _on_key(self, event: events.Key) -> None:
        # Handled here rather than by bindings: a binding runs once the key has bubbled
        # up to the app, after the keys typed behind it (a terminal sends "a", ctrl+j,
        # "b", enter at once) have reached the box, and the line break would land late.
        if event.key == "enter":
            # Enter sends (the TextArea would insert a line break). The box empties now,
            # not when the app has taken the message: keys typed behind enter stay.
            event.stop()
            event.prevent_default()
            text = self.value
            if text.strip():
                self.remember(text)
                self.value = ""
                self.post_message(self.Submitted(self, text))
            return
        if event.key in self.NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            self.action_newline()
            return
        await super()._on_key(event)

    async def _on_paste(self, event: events.Paste) -> None:
        event.stop()
        event.prevent_default()
        if self.read_only:
            return
        text = normalise_newlines(event.text)
        lines = text.count("\n") + (0 if text.endswith("\n") else 1)
        if lines > FOLD_LINES:
            text = self._fold(text, lines)
        self.replace(text, *self.selection, maintain_selection_offset=False)

    def _fold(self, text: str, lines: int) -> str:
        """A placeholder for the pasted ``text`` (kept in :attr:`pastes`)."""
        placeholder = f"[pasted {lines} lines]"
        number = 1
        while placeholder in self.pastes:
            number += 1
            placeholder = f"[pasted {lines} lines #{number}]"
        self.pastes[placeholder] = text
        return placeholder

    def action_newline(self) -> None:
        self.replace("\n", *self.selection, maintain_selection_offset=False)

    def action_expand_paste(self) -> None:
        """Show the pasted text in full in place of its placeholder (each of them)."""
        if not self.pastes:
            return
        text = self.value
        self.pastes.clear()
        self.load_text(text)
        self.move_cursor(self.document.end)

    # --- the history ----------------------------------------------------------------------

    def give_back(self, text: str) -> None:
        """Put ``text`` (a message that could not be sent) back in the box, before
        whatever was typed since."""
        draft = self.value
        self.value = f"{text}\n{draft}" if draft.strip() else text

    def remember(self, text: str) -> None:
        """Add ``text`` to the history (not twice in a row) and go back to a blank box."""
        if text and (not self.sent or self.sent[-1] != text):
            self.sent.append(text)
        self._position = len(self.sent)
        self._draft = ""

    def action_cursor_up(self, select: bool = False) -> None:
        if not select and self.cursor_location[0] == 0 and self.sent:
            self.action_history(-1)
        else:
            super().action_cursor_up(select)

    def action_cursor_down(self, select: bool = False) -> None:
        last = self.document.line_count - 1
        if not select and self.cursor_location[0] == last and self.sent:
            self.action_history(1)
        else:
            super().action_cursor_down(select)

    def action_history(self, step: int) -> None:
        """Show the previous (``-1``) or next (``1``) message of the history."""
        if not self.sent:
            return
        if self._position == len(self.sent):
            self._draft = self.value  # what was being typed comes back at the end
        position = min(max(self._position + step, 0), len(self.sent))
        if position == self._position:
            return
        self._position = position
        self.value = self.sent[position] if position < len(self.sent) else self._draft
