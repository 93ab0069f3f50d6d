"""The tab bar: one tab per session, with its state dot, badge and unseen-output marker."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import Static

from aegis_tui.needs_you import NEEDS_YOU
from aegis_tui.tab import Tab

UNSEEN = "✱"


class TabBar(Static):
    """A one-line bar of tabs; clicking a tab selects it."""

    DEFAULT_CSS = """
    TabBar {
        height: 1;
        background: $panel;
        color: $text;
    }
    """

    class Selected(Message):
        """The user clicked tab ``index``."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self._tabs: list[Tab] = []
        self._active = 0
        self._ranges: list[tuple[int, int]] = []

    def show(self, tabs: Sequence[Tab], active: int) -> None:
        """Draw ``tabs`` with tab ``active`` highlighted."""
        self._tabs, self._active = list(tabs), active
        self.update(self._render_tabs(self.size.width or 80))

    def on_resize(self, event: events.Resize) -> None:
        self.update(self._render_tabs(event.size.width))

    def _render_tabs(self, width: int) -> Text:
        if not self._tabs:
            self._ranges = []
            return Text(" no session: ctrl+t opens one", style="dim")
        for badges in (True, False):
            pieces = [self._piece(i, tab, badge=badges) for i, tab in enumerate(self._tabs)]
            if sum(p.cell_len + 1 for p in pieces) <= width:
                return self._join(pieces, 0, len(pieces))
        # Too many tabs: a window around the active one, with how many are hidden each side.
        first, last = self._active, self._active + 1

        def fits(first: int, last: int) -> bool:
            used = sum(p.cell_len + 1 for p in pieces[first:last])
            return used + _marker_width(first, last, len(pieces)) <= width

        grown = True
        while grown:
            grown = False
            if last < len(pieces) and fits(first, last + 1):
                last, grown = last + 1, True
            if first > 0 and fits(first - 1, last):
                first, grown = first - 1, True
        return self._join(pieces, first, last)

    def _piece(self, index: int, tab: Tab, *, badge: bool) -> Text:
        """One tab: number, state dot, name, profile (and the provider badge)."""
        active = index == self._active
        base = "bold on grey35" if active else ""
        dot, colour = tab.dot()
        text = Text(no_wrap=True)
        text.append(f" {index + 1} ", base)
        text.append(dot, f"{base} {colour}".strip())
        text.append(f" {tab.name}", base)
        if tab.title is None or tab.title != tab.profile:
            text.append(f" {tab.profile}", f"{base} italic".strip() if active else "italic dim")
        if badge and tab.badge():
            text.append(f" [{tab.badge()}]", base or "dim")
        if tab.needs or tab.asking:
            text.append(f" {NEEDS_YOU}", "bold black on yellow")
        elif tab.unseen and not active:
            text.append(f" {UNSEEN}", "bold yellow")
        text.append(" ", base)
        return text

    def _join(self, pieces: list[Text], first: int, last: int) -> Text:
        """Tabs ``first`` to ``last`` (excluded), with a marker for those left out."""
        text = Text(no_wrap=True, overflow="ellipsis")
        self._ranges = [(-1, -1)] * len(pieces)
        if first:
            text.append(f"◂{first} ", "bold reverse")
        for index in range(first, last):
            start = text.cell_len
            text.append_text(pieces[index])
            self._ranges[index] = (start, text.cell_len)
            text.append("│", "dim")
        if last < len(pieces):
            text.append(f" {len(pieces) - last}▸", "bold reverse")
        return text

    def on_click(self, event: events.Click) -> None:
        for index, (start, end) in enumerate(self._ranges):
            if start <= event.x < end:
                self.post_message(self.Selected(index))
                return


def _marker_width(first: int, last: int, count: int) -> int:
    """Cells the overflow markers of a window ``first``..``last`` of ``count`` tabs take."""
    left = len(f"◂{first} ") if first else 0
    right = len(f" {count - last}▸") if last < count else 0
    return left + right
