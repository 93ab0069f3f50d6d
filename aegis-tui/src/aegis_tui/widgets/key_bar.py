"""The main screen's footer: its keys, the most needed first, cut at the right edge."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widgets import Static

from aegis_tui.keys import footer_keys, short


class KeyBar(Static):
    """One line of keys. Unlike Textual's footer, its order is fixed (the focused widget's
    keys do not move ahead), and a key that does not fit whole is left out."""

    DEFAULT_CSS = """
    KeyBar {
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
    }
    """

    def on_mount(self) -> None:
        self.update(self._fitted(self.size.width or 80))

    def on_resize(self, event: events.Resize) -> None:
        self.update(self._fitted(event.size.width))

    def _fitted(self, width: int) -> Text:
        text = Text(no_wrap=True)
        for number, key in enumerate(footer_keys()):
            piece = Text(" " if number == 0 else "  ")
            piece.append(short(key.keys), "bold cyan")
            piece.append(f" {key.description}")
            if text.cell_len + piece.cell_len > width:
                break
            text.append_text(piece)
        return text
