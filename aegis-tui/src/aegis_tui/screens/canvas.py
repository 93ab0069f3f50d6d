"""The canvas view: a shared canvas of the daemon, shown live as Markdown.

It reads the canvas through the daemon every :data:`POLL_S` seconds and redraws it
when its text changed, whoever changed it (an agent's section write, a person's
editor). ``n`` shows the next canvas; esc goes back.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Markdown, Static

from aegis.daemon.client import DaemonClient, DaemonError
from aegis_tui.widgets.key_bar import KeyBar

POLL_S = 1.0
KEYS = (("esc", "Back"), ("n", "Next canvas"), ("pgup/pgdn", "Scroll"))


class CanvasScreen(Screen[None]):
    """The project's canvases, one at a time, kept up to date."""

    DEFAULT_CSS = """
    CanvasScreen #canvas-title { height: 1; background: $boost; }
    CanvasScreen #canvas-scroll { height: 1fr; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        ("escape", "app.pop_screen", "Back"),
        ("f7", "app.pop_screen", "Back"),
        ("n", "next", "Next canvas"),
    ]

    def __init__(self, client: DaemonClient) -> None:
        super().__init__()
        self.client = client
        self.names: list[str] = []
        self.index = 0
        self.text: str | None = None
        """The text shown (``None`` before the first read)."""

    def compose(self) -> ComposeResult:
        yield Static(" canvases", id="canvas-title")
        with VerticalScroll(id="canvas-scroll"):
            yield Markdown("", id="canvas-text")
        yield KeyBar(KEYS)

    def on_mount(self) -> None:
        self.run_worker(self.reload(), exclusive=True, group="canvas")
        self.set_interval(POLL_S, self._poll)

    def _poll(self) -> None:
        self.run_worker(self.reload(), exclusive=True, group="canvas")

    def action_next(self) -> None:
        if self.names:
            self.index = (self.index + 1) % len(self.names)
            self.text = None
            self._poll()

    async def reload(self) -> None:
        """Read the canvas shown (the list of canvases too) and redraw what changed."""
        title = self.query_one("#canvas-title", Static)
        try:
            self.names = [c["name"] for c in await self.client.canvases()]
            if not self.names:
                title.update(
                    " no canvases yet: agents open them (aegis_canvas_open), or "
                    "`aegis canvas open NAME`"
                )
                return
            self.index %= len(self.names)
            name = self.names[self.index]
            text = await self.client.read_canvas(name)
        except DaemonError as exc:
            title.update(f" canvases: {exc.message}")
            return
        title.update(
            f" canvas {name} ({self.index + 1}/{len(self.names)}) · live: agents' writes "
            "and your editor's show here"
        )
        if text != self.text:
            self.text = text
            await self.query_one("#canvas-text", Markdown).update(text or "*(empty)*")
