"""Showing canonical events on a terminal (``aegis ask``, ``aegis chat``, progress views).

Reply text goes to stdout; everything else (tool calls, results, errors, notices)
goes to stderr, so that ``aegis ask ... > answer.txt`` captures just the answer.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from aegis import events as ev

if TYPE_CHECKING:
    from aegis.cli._spinner import Spinner


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ConsoleRenderer:
    """Prints one session's events as they stream.

    With a ``spinner``, its line is erased before anything is printed, and it is
    told what the agent does. While :attr:`whole_lines` is set (a line editor's
    prompt is on screen), streamed text is held until its line is complete: a
    half line printed above a prompt would be drawn over by the prompt.
    """

    def __init__(
        self, *, show_user: bool = False, prefix: str = "", spinner: Spinner | None = None
    ) -> None:
        self.show_user = show_user
        self.prefix = prefix
        self.spinner = spinner
        self._streamed = False  # did text of the current turn reach stdout as deltas?
        self._at_line_start = True
        self._whole_lines = False
        self._held = ""  # the unfinished line, while whole_lines is set

    @property
    def at_line_start(self) -> bool:
        """Whether stdout's last output ended its line (nothing half-printed is pending)."""
        return self._at_line_start

    @property
    def whole_lines(self) -> bool:
        """Print streamed text by whole lines only (see the class's docstring)."""
        return self._whole_lines

    @whole_lines.setter
    def whole_lines(self, value: bool) -> None:
        self._whole_lines = value
        if not value and self._held:
            click.echo(self._held, nl=False)
            self._held = ""

    def _out(self, text: str) -> None:
        if not text:
            return
        self._at_line_start = text.endswith("\n")
        if not self._whole_lines:
            click.echo(text, nl=False)
            return
        lines, newline, self._held = (self._held + text).rpartition("\n")
        if newline:
            click.echo(lines + newline, nl=False)

    def _newline(self) -> None:
        if not self._at_line_start:
            click.echo(self._held)
            self._held = ""
            self._at_line_start = True

    def _note(self, text: str, **style: object) -> None:
        self._newline()
        click.secho(f"{self.prefix}{text}", err=True, **style)  # type: ignore[arg-type]

    def show(self, event: ev.Event) -> None:
        if self.spinner is not None:
            self.spinner.clear()
            self.spinner.observe(event)
        self._show(event)

    def _show(self, event: ev.Event) -> None:
        if isinstance(event, ev.TextDelta):
            self._streamed = True
            self._out(event.text)
        elif isinstance(event, ev.AssistantMessage):
            if not self._streamed:
                self._out(event.text)
            self._newline()  # the next message starts on a line of its own
        elif isinstance(event, ev.ToolCall):
            summary = event.title or _short(json.dumps(event.input, ensure_ascii=False))
            self._note(f"⏺ {event.name} [{event.kind.value}] {summary}", fg="cyan")
        elif isinstance(event, ev.ToolResult):
            mark = "✓" if event.ok else "✗"
            self._note(f"  {mark} {_short(event.output)}", dim=True)
        elif isinstance(event, ev.Plan):
            steps = "; ".join(f"[{e.status}] {e.content}" for e in event.entries)
            self._note(f"plan: {_short(steps, 300)}", fg="magenta")
        elif isinstance(event, ev.Error):
            self._note(f"error: {event.message}", fg="red")
        elif isinstance(event, ev.UserMessage):
            if self.show_user or event.sender != "user":
                self._note(f"[{event.sender}] {_short(event.text, 300)}", fg="yellow")
        elif isinstance(event, ev.PermissionRequest):
            summary = event.title or _short(json.dumps(event.input, ensure_ascii=False))
            self._note(
                f"? {event.name} [{event.kind.value}] {summary} waits for a person "
                f"(approval {event.id}, refused in {event.timeout_s:g} s)",
                fg="yellow",
                bold=True,
            )
        elif isinstance(event, ev.PermissionAnswer):
            said = f": {_short(event.reason)}" if event.reason else ""
            decision = event.decision.replace("_", " ")
            self._note(f"  {decision} by {event.by}{said}", fg="yellow")
        elif isinstance(event, ev.TurnEnd):
            if not self._streamed and event.text:
                self._out(event.text)
            self._newline()
            self._streamed = False
            if event.stop_reason is ev.StopReason.cancelled:
                self._note("(interrupted)", dim=True)


def event_json(handle: str, event: ev.Event) -> str:
    """One JSONL line for ``aegis ask --json``."""
    return json.dumps({"handle": handle, **ev.to_dict(event)}, ensure_ascii=False)


class ProgressPrinter:
    """One line per notable event of many sessions at once (workflow runs, ``serve``).

    Streaming text is not shown chunk by chunk (several sessions would interleave);
    each turn's whole answer is shown when the turn ends.
    """

    def __init__(self, *, width: int = 110) -> None:
        self.width = width

    def _line(self, handle: str, text: str, **style: object) -> None:
        click.secho(_short(f"  {handle}: {text}", self.width), err=True, **style)  # type: ignore[arg-type]

    def show(self, handle: str, event: ev.Event) -> None:
        if isinstance(event, ev.UserMessage):
            self._line(handle, f"← [{event.sender}] {event.text}", fg="yellow")
        elif isinstance(event, ev.ToolCall):
            summary = event.title or json.dumps(event.input, ensure_ascii=False)
            self._line(handle, f"⏺ {event.name} [{event.kind.value}] {summary}", fg="cyan")
        elif isinstance(event, ev.ToolResult):
            self._line(handle, f"{'✓' if event.ok else '✗'} {event.output}", dim=True)
        elif isinstance(event, ev.TurnEnd):
            if event.ok:
                self._line(handle, f"→ {event.text}")
            else:
                said = f": {event.error}" if event.error else ""
                self._line(handle, f"turn {event.stop_reason.value}{said}", fg="red")
        elif isinstance(event, ev.Error):
            self._line(handle, f"error: {event.message}", fg="red")
