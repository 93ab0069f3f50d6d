"""The terminal view: a shared terminal of the daemon, drawn from a real screen model.

The daemon's terminal streams its output (what it kept first, then what comes); a
``pyte`` screen turns it into the cells a terminal would show, redrawn at most
:data:`FPS` times a second. Keys typed here go to the terminal's shell as ``user``,
the view's size is the terminal's, and commands agents run in it appear as they run.
f6 or ctrl+] goes back; ctrl+q quits the TUI as anywhere.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

import pyte
from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Static

from aegis.daemon.client import DaemonClient, DaemonError, StreamEnd
from aegis_tui.widgets.key_bar import KeyBar

FPS = 30
DEFAULT_NAME = "shell"
"""The terminal the view opens when the daemon has none."""

KEYS = (("f6 / ctrl+]", "Back (it goes on)"), ("ctrl+q", "Quit"))

_SPECIAL = {
    "enter": b"\r",
    "tab": b"\t",
    "shift+tab": b"\x1b[Z",
    "backspace": b"\x7f",
    "escape": b"\x1b",
    "up": b"\x1b[A",
    "down": b"\x1b[B",
    "right": b"\x1b[C",
    "left": b"\x1b[D",
    "home": b"\x1b[H",
    "end": b"\x1b[F",
    "delete": b"\x1b[3~",
    "insert": b"\x1b[2~",
    "pageup": b"\x1b[5~",
    "pagedown": b"\x1b[6~",
}
_COLOURS = {"brown": "yellow", "default": None}


def key_data(event: events.Key) -> bytes:
    """The bytes a terminal sends for ``event`` (empty for a key it has none for)."""
    if event.key in _SPECIAL:
        return _SPECIAL[event.key]
    if event.key.startswith("ctrl+") and len(event.key) == len("ctrl+") + 1:
        letter = event.key[-1]
        if "a" <= letter <= "z":
            return bytes([ord(letter) - ord("a") + 1])
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
    """The screen of terminal ``name``, fed by the daemon; keys go to its shell."""

    DEFAULT_CSS = "TerminalView { height: 1fr; width: 1fr; }"

    def __init__(self, client: DaemonClient, name: str) -> None:
        super().__init__(id="terminal-view")
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
        except DaemonError as exc:
            self.ended = exc.message
        self._dirty = True

    def _paint(self) -> None:
        if self._dirty:
            self._dirty = False
            self.refresh()

    def render(self) -> Text:
        text = render_screen(self.screen_model, cursor=self.ended is None)
        if self.ended is not None:
            text.append(f"\n[{self.terminal}: {self.ended}]", style="dim")
        return text

    async def on_resize(self, event: events.Resize) -> None:
        cols, rows = max(10, event.size.width), max(2, event.size.height)
        if (rows, cols) != (self.screen_model.lines, self.screen_model.columns):
            self.screen_model.resize(rows, cols)
            self._dirty = True
            with contextlib.suppress(DaemonError):  # the daemon is going: nothing to size
                await self.client.resize_terminal(self.terminal, rows, cols)

    async def on_key(self, event: events.Key) -> None:
        if event.key in ("f6", "ctrl+right_square_bracket", "ctrl+q"):
            return  # the screen's and the app's keys
        data = key_data(event)
        event.stop()
        event.prevent_default()
        if data and self.ended is None:
            try:
                await self.client.type_into(self.terminal, data)
            except DaemonError as exc:
                self.notify(exc.message, severity="error")

    def on_paste(self, event: events.Paste) -> None:
        if self.ended is None and event.text:
            self.run_worker(self.client.type_into(self.terminal, event.text.encode()))


class TerminalScreen(Screen[None]):
    """A shared terminal of the daemon (``name``, or the first open one, or a new one)."""

    DEFAULT_CSS = """
    TerminalScreen #terminal-title { height: 1; background: $boost; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        ("f6", "app.pop_screen", "Back"),
        ("ctrl+right_square_bracket", "app.pop_screen", "Back"),
    ]

    def __init__(self, client: DaemonClient, name: str | None = None) -> None:
        super().__init__()
        self.client = client
        self.name_wanted = name
        self.view: TerminalView | None = None

    def compose(self) -> ComposeResult:
        yield Static(" terminal", id="terminal-title")
        yield KeyBar(KEYS)

    async def on_mount(self) -> None:
        try:
            name = await self._terminal()
        except DaemonError as exc:
            self.query_one("#terminal-title", Static).update(f" terminal: {exc.message}")
            return
        self.query_one("#terminal-title", Static).update(
            f" terminal {name} · shared with the agents (aegis_term_* tools) · as user"
        )
        self.view = TerminalView(self.client, name)
        await self.mount(self.view, after="#terminal-title")
        self.view.focus()

    async def _terminal(self) -> str:
        terminals = [t for t in await self.client.terminals() if t["alive"]]
        names = [t["name"] for t in terminals]
        if self.name_wanted is not None:
            if self.name_wanted not in names:
                await self.client.spawn_terminal(self.name_wanted)
            return self.name_wanted
        if names:
            return str(names[0])
        await self.client.spawn_terminal(DEFAULT_NAME)
        return DEFAULT_NAME
