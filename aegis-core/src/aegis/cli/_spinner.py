"""A one-line activity indicator on stderr while an agent works (``aegis ask`` on a terminal).

It says what the agent is doing (starting, thinking, running a tool, writing) and for
how long, redrawn in place with a carriage return. It is drawn only on a terminal
and only where it cannot garble the answer: whoever prints calls :meth:`Spinner.clear`
first, and the spinner waits while streamed text holds the line (``can_draw``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

import anyio

from aegis import events as ev

FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
INTERVAL = 0.125
"""Seconds between frames."""


class Spinner:
    """Draws ``⠹ thinking · 12s · ctrl+c to interrupt`` on ``stream`` until stopped."""

    def __init__(
        self,
        activity: str,
        *,
        stream: TextIO | None = None,
        can_draw: Callable[[], bool] = lambda: True,
    ) -> None:
        self.stream = stream or sys.stderr
        self.can_draw = can_draw
        self.activity = activity
        self.started = time.monotonic()
        self._frame = 0
        self._shown = False
        self._stopped = False

    def start_turn(self) -> None:
        """The turn starts: the clock starts, the agent is thinking."""
        self.activity = "thinking"
        self.started = time.monotonic()

    def observe(self, event: ev.Event) -> None:
        """Follow what the agent does from the events of its turn."""
        if isinstance(event, ev.StateChanged) and event.state == "busy":
            self.start_turn()
        elif isinstance(event, ev.ToolCall):
            self.activity = f"running {event.name}"
        elif isinstance(event, (ev.ToolResult, ev.Thinking)):
            self.activity = "thinking"
        elif isinstance(event, (ev.TextDelta, ev.AssistantMessage)):
            self.activity = "writing"
        elif isinstance(event, ev.TurnEnd):
            self.stop()

    def line(self) -> str:
        """The text of the current frame."""
        elapsed = int(time.monotonic() - self.started)
        frame = FRAMES[self._frame % len(FRAMES)]
        return f"{frame} {self.activity} · {elapsed}s · ctrl+c to interrupt"

    def draw(self) -> None:
        if self._stopped or not self.can_draw():
            return
        self.stream.write("\r\x1b[K" + self.line())
        self.stream.flush()
        self._shown = True
        self._frame += 1

    def clear(self) -> None:
        """Erase the indicator's line (before anything else is printed)."""
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False

    def stop(self) -> None:
        self.clear()
        self._stopped = True

    async def run(self) -> None:
        """Redraw until cancelled (or stopped); the line is erased on the way out."""
        try:
            while not self._stopped:
                self.draw()
                await anyio.sleep(INTERVAL)
        finally:
            self.clear()


def spinner_wanted() -> bool:
    """Whether ``aegis ask`` shows the indicator: only when stderr is a terminal."""
    return sys.stderr.isatty()
