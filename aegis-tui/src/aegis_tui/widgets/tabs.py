"""The tab bar: one tab per session, with its state dot, badge and unseen-output marker."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import Static

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
            return Text(" no session: ctrl+t opens one", style="dim")
        text = self._build(compact=False)
        if text.cell_len > width:
            text = self._build(compact=True)
        return text

    def _build(self, *, compact: bool) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        self._ranges = []
        for index, tab in enumerate(self._tabs):
            active = index == self._active
            start = text.cell_len
            dot, colour = tab.dot()
            base = "bold on grey35" if active else ""
            text.append(f" {index + 1} ", base)
            text.append(dot, f"{base} {colour}".strip())
            text.append(f" {tab.handle}", base)
            if not compact or active:
                text.append(f" {tab.profile}", f"{base} italic".strip())
                text.append(f" [{tab.badge()}]", base or "dim")
            if tab.unseen and not active:
                text.append(f" {UNSEEN}", "bold yellow")
            text.append(" ", base)
            self._ranges.append((start, text.cell_len))
            text.append("│", "dim")
        return text

    def on_click(self, event: events.Click) -> None:
        for index, (start, end) in enumerate(self._ranges):
            if start <= event.x < end:
                self.post_message(self.Selected(index))
                return
