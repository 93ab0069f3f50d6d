"""A terminal tab's view: a shared terminal of the daemon, drawn from a real screen model.

The daemon's terminal streams its output (what it kept first, then what comes); a
``pyte`` screen turns it into the cells a terminal would show, redrawn at most
:data:`FPS` times a second. Keys typed here go to the terminal's shell as ``user``
(but for the app's keys that work in every tab: :data:`aegis_tui.keys.MAIN_KEYS`
marked ``in_terminal``), the view's size is the terminal's, and commands agents
run in it appear as they run.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pyte
from rich.style import Style
from rich.text import Text
from textual import events
from textual.message import Message
from textual.widget import Widget

from aegis.daemon.client import DaemonClient, DaemonError, StreamEnd
from aegis.terminals.terminal import TerminalError, key_bytes
from aegis_tui.keys import TERMINAL_PASSES

FPS = 30

_COLOURS = {"brown": "yellow", "default": None}


def key_data(event: events.Key) -> bytes:
    """The bytes a terminal sends for ``event`` (empty for a key it has none for)."""
    try:
        return key_bytes(event.key)  # the keys agents press by name, as a person's
    except TerminalError:
        pass  # a printable key, or one a terminal has no bytes for
    if event.character:
        return event.character.encode("utf-8", "surrogateescape")
    return b""


def _colour(name: str) -> str | None:
    if name in _COLOURS:
        return _COLOURS[name]
    if len(name) == 6 and all(c in "0123456789abcdefABCDEF" for c in name):
        return f"#{name}"
    return name.replace("bright", "bright_") if name.startswith("bright") else name


def render_screen(screen: Any, *, cursor: bool = True) -> Text:
    """The cells of a ``pyte`` screen as Rich text, the cursor shown reversed."""
    text = Text(no_wrap=True, overflow="crop")
    for y in range(screen.lines):
        row = screen.buffer[y]
        for x in range(screen.columns):
            char = row[x]
            reverse = char.reverse or (cursor and y == screen.cursor.y and x == screen.cursor.x)
            style = Style(
                color=_colour(char.fg),
                bgcolor=_colour(char.bg),
                bold=char.bold,
                italic=char.italics,
                underline=char.underscore,
                reverse=reverse,
            )
            text.append(char.data or " ", style)
        if y < screen.lines - 1:
            text.append("\n")
    return text


class TerminalView(Widget, can_focus=True):
    """The screen of terminal ``name``, fed by the daemon; keys go to its shell.

    It streams the terminal's output for as long as it is mounted (a hidden tab's
    screen stays current); removing it detaches: the terminal goes on in the daemon.
    """

    DEFAULT_CSS = "TerminalView { height: 1fr; width: 1fr; }"

    class Ended(Message):
        """The terminal's shell has ended (or the daemon went): ``reason`` says how."""

        def __init__(self, view: TerminalView, reason: str) -> None:
            super().__init__()
            self.view = view
            self.reason = reason

    def __init__(self, client: DaemonClient, name: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.client = client
        self.terminal = name
        self.screen_model = pyte.Screen(80, 24)
        self.stream = pyte.ByteStream(self.screen_model)
        self.ended: str | None = None
        self._dirty = True

    def on_mount(self) -> None:
        self.set_interval(1 / FPS, self._paint)
        self.run_worker(self._follow(), exclusive=True, group="terminal-output")

    async def _follow(self) -> None:
        try:
            async for item in self.client.terminal_output(self.terminal):
                if isinstance(item, StreamEnd):
                    self.ended = item.reason
                    break
                self.stream.feed(item)
                self._dirty = True
            else:
                self.ended = "the daemon went away"
        except (DaemonError, OSError) as exc:
            self.ended = exc.message if isinstance(exc, DaemonError) else str(exc)
        self._dirty = True
        self.post_message(self.Ended(self, self.ended or "ended"))

    def _paint(self) -> None:
        if self._dirty:
            self._dirty = False
            self.refresh()

    def render(self) -> Text:
        text = render_screen(self.screen_model, cursor=self.ended is None and self.has_focus)
        if self.ended is not None:
            text.append(f"\n[{self.terminal}: {self.ended}]", style="dim")
        return text

    def on_focus(self) -> None:
        self._dirty = True

    def on_blur(self) -> None:
        self._dirty = True

    async def on_resize(self, event: events.Resize) -> None:
        await self.claim_size()

    async def claim_size(self) -> None:
        """Size the terminal as this view (another viewer may have sized it since)."""
        if self.size.width <= 0 or self.size.height <= 0 or self.ended is not None:
            return
        cols, rows = max(10, self.size.width), max(2, self.size.height)
        if (rows, cols) != (self.screen_model.lines, self.screen_model.columns):
            self.screen_model.resize(rows, cols)
            self._dirty = True
        with contextlib.suppress(DaemonError, OSError):  # the daemon is going: nothing to size
            await self.client.resize_terminal(self.terminal, rows, cols)

    async def on_key(self, event: events.Key) -> None:
        if event.key in TERMINAL_PASSES:
            return  # the app's keys of every tab (switching tabs, the dashboards)
        data = key_data(event)
        event.stop()
        event.prevent_default()
        if data and self.ended is None:
            try:
                await self.client.type_into(self.terminal, data)
            except (DaemonError, OSError) as exc:
                self.notify(f"not typed into {self.terminal}: {exc}", severity="error")

    def on_paste(self, event: events.Paste) -> None:
        event.stop()  # the main screen sends the pastes that reach it to the input box
        if self.ended is None and event.text:
            self.run_worker(self.client.type_into(self.terminal, event.text.encode()))
