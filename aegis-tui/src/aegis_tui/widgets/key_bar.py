"""A screen's footer: its keys in a fixed order, the most needed first, cut at the edge."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events
from textual.widget import Widget
from textual.widgets import Static

SHORT_HEIGHT = 16
"""Below this many rows a screen lays out compactly (see :func:`mark_short`)."""


def fitted(keys: Sequence[tuple[str, str]], width: int) -> Text:
    """``f1 Help  f2 Queues …``: as many keys as fit whole in ``width`` cells (with one
    space between keys instead of two when that fits one more)."""
    best = Text(no_wrap=True)
    best_count = -1
    for gap in ("  ", " "):
        text, count = Text(no_wrap=True), 0
        for key, description in keys:
            piece = Text(" " if count == 0 else gap)
            piece.append(key, "bold cyan")
            piece.append(f" {description}")
            if text.cell_len + piece.cell_len > width:
                break
            text.append_text(piece)
            count += 1
        if count > best_count:
            best, best_count = text, count
    return best


class KeyBar(Static):
    """One line of keys. Unlike Textual's footer, its order is fixed (the focused widget's
    keys do not move ahead of quit), and a key that does not fit whole is left out."""

    DEFAULT_CSS = """
    KeyBar {
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
        dock: bottom;
    }
    """

    def __init__(self, keys: Sequence[tuple[str, str]], **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self.keys = list(keys)

    def on_mount(self) -> None:
        self.update(fitted(self.keys, self.size.width or 80))

    def set_keys(self, keys: Sequence[tuple[str, str]]) -> None:
        """Show ``keys`` instead (the main screen's differ in a terminal tab)."""
        if list(keys) != self.keys:
            self.keys = list(keys)
            self.update(fitted(self.keys, self.size.width or 80))

    def on_resize(self, event: events.Resize) -> None:
        self.update(fitted(self.keys, event.size.width))


def mark_short(screen: Widget, height: int) -> None:
    """Give ``screen`` the ``-short`` class while the terminal has few rows (its CSS
    then drops borders and secondary lines)."""
    screen.set_class(height < SHORT_HEIGHT, "-short")
