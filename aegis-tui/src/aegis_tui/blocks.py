"""The blocks of a transcript: what one or more canonical events look like on screen.

A block renders itself into lines (:class:`~textual.strip.Strip`) at a given width
and keeps them until it changes or the width does, so a transcript re-renders only
the block that is streaming. Before a block is rendered, :meth:`Block.estimate`
guesses its height cheaply: a transcript of thousands of blocks lays itself out
from estimates and renders exactly only what is near the view.
"""

from __future__ import annotations

import json
from typing import ClassVar

from rich.console import Console, Group, RenderableType
from rich.markdown import Markdown
from rich.padding import Padding
from rich.text import Text
from textual.strip import Strip

from aegis.events import Plan, PlanEntry, ToolCall, ToolResult

PREVIEW_LINES = 3
"""Lines of a tool's output (or of thinking) shown while the block is collapsed."""
EXPANDED_MAX_LINES = 2000
"""An expanded output longer than this is cut (a terminal is not a pager)."""
INDENT = 2


def wrapped_height(text: str, width: int) -> int:
    """Rows ``text`` takes when wrapped at ``width`` (a cheap guess: no word breaks)."""
    width = max(width, 1)
    return sum(max(1, -(-len(line) // width)) for line in text.split("\n"))


class Block:
    """One item of a transcript.

    Subclasses say what they look like (:meth:`renderable`) and guess their height
    (:meth:`estimate`); this class renders and caches the lines. Whoever changes
    a block calls :meth:`changed`, which drops the cached lines.
    """

    expandable: ClassVar[bool] = False
    """Whether clicking the block (or ``ctrl+o``) shows more of it."""

    def __init__(self) -> None:
        self.version = 0
        self.expanded = False
        self._cache_key: tuple[int, int] | None = None
        self._lines: list[Strip] = []

    def changed(self) -> None:
        """The block's content changed: its lines must be rendered again."""
        self.version += 1

    def toggle(self) -> bool:
        """Expand or collapse the block; returns whether anything changed."""
        if not self.expandable:
            return False
        self.expanded = not self.expanded
        self.changed()
        return True

    def renderable(self) -> RenderableType:
        """What the block shows, as a Rich renderable."""
        raise NotImplementedError

    def estimate(self, width: int) -> int:
        """A cheap guess of the block's height at ``width`` (its lines, plus the gap)."""
        raise NotImplementedError

    def plain(self) -> str:
        """The block's text without styles (what a search or a test reads)."""
        raise NotImplementedError

    def rendered_height(self, width: int) -> int | None:
        """The exact height at ``width`` when the block is rendered there and unchanged."""
        if self._cache_key == (width, self.version):
            return len(self._lines)
        return None

    def lines(self, console: Console, width: int) -> list[Strip]:
        """The block's lines at ``width`` (each exactly ``width`` cells), then a blank gap."""
        key = (width, self.version)
        if self._cache_key != key:
            options = console.options.update(width=width, min_width=width, height=None)
            rows = console.render_lines(self.renderable(), options, pad=True)
            strips = [Strip(row, width) for row in rows]
            strips.append(Strip.blank(width))
            self._lines, self._cache_key = strips, key
        return self._lines


class UserBlock(Block):
    """A message delivered to the agent, with its sender (``you`` for the user)."""

    def __init__(self, text: str, sender: str) -> None:
        super().__init__()
        self.text = text
        self.sender = sender

    def label(self) -> str:
        return "you" if self.sender == "user" else self.sender

    def renderable(self) -> RenderableType:
        style = "bold cyan" if self.sender == "user" else "bold orchid"
        head = Text.assemble(("▌ ", style), (self.label(), style))
        return Group(head, Padding(Text(self.text), (0, 0, 0, INDENT)))

    def estimate(self, width: int) -> int:
        return 1 + wrapped_height(self.text, width - INDENT) + 1

    def plain(self) -> str:
        return f"▌ {self.label()}\n{self.text}"


class AssistantBlock(Block):
    """The agent's text, as Markdown; it grows while its deltas stream."""

    def __init__(self, text: str = "", *, streaming: bool = False) -> None:
        super().__init__()
        self.text = text
        self.streaming = streaming

    def renderable(self) -> RenderableType:
        if not self.text.strip():
            return Padding(Text("…", style="dim"), (0, 0, 0, INDENT))
        return Padding(Markdown(self.text), (0, 0, 0, INDENT))

    def estimate(self, width: int) -> int:
        return wrapped_height(self.text, width - INDENT) + 1

    def plain(self) -> str:
        return self.text


class ThinkingBlock(Block):
    """Reasoning the model shows: dim, the first lines only until expanded."""

    expandable = True

    def __init__(self, text: str = "") -> None:
        super().__init__()
        self.text = text

    def _shown(self) -> tuple[str, int]:
        lines = self.text.strip("\n").split("\n")
        if self.expanded or len(lines) <= PREVIEW_LINES:
            return "\n".join(lines), 0
        return "\n".join(lines[:PREVIEW_LINES]), len(lines) - PREVIEW_LINES

    def renderable(self) -> RenderableType:
        shown, hidden = self._shown()
        parts: list[RenderableType] = [
            Text("✻ thinking", style="dim italic"),
            Padding(Text(shown, style="dim italic"), (0, 0, 0, INDENT)),
        ]
        if hidden:
            parts.append(_more(hidden))
        return Group(*parts)

    def estimate(self, width: int) -> int:
        shown, hidden = self._shown()
        return 1 + wrapped_height(shown, width - INDENT) + (1 if hidden else 0) + 1

    def plain(self) -> str:
        return f"✻ thinking\n{self.text}"


def _more(hidden: int) -> Text:
    noun = "line" if hidden == 1 else "lines"
    return Text(f"  … {hidden} more {noun} (click or ctrl+o to expand)", style="dim")


_SUMMARY_KEYS = ("command", "file_path", "path", "pattern", "query", "url", "prompt")


def tool_summary(call: ToolCall) -> str:
    """One line saying what a tool call does: its title, or its main argument."""
    if call.title:
        return call.title
    for key in _SUMMARY_KEYS:
        value = call.input.get(key)
        if isinstance(value, str) and value:
            return value
    if call.paths:
        return ", ".join(call.paths)
    if call.input:
        return json.dumps(call.input, ensure_ascii=False, separators=(",", ":"))
    return ""


class ToolBlock(Block):
    """A tool call with its kind and, once it came, a preview of its result."""

    expandable = True

    def __init__(self, call: ToolCall) -> None:
        super().__init__()
        self.call = call
        self.result: ToolResult | None = None

    def set_result(self, result: ToolResult) -> None:
        self.result = result
        self.changed()

    def _status(self) -> tuple[str, str]:
        if self.result is None:
            return "…", "yellow"
        return ("✓", "green") if self.result.ok else ("✗", "red")

    def _output(self) -> tuple[list[str], int]:
        if self.result is None or not self.result.output:
            return [], 0
        lines = self.result.output.rstrip("\n").split("\n")
        limit = EXPANDED_MAX_LINES if self.expanded else PREVIEW_LINES
        return lines[:limit], max(len(lines) - limit, 0)

    def _paths_line(self) -> bool:
        """Whether the paths need a line of their own (neither a title nor the summary says
        them; a titled call names what matters)."""
        if self.call.title:
            return False
        summary = tool_summary(self.call)
        return any(path not in summary for path in self.call.paths)

    def _head(self) -> Text:
        mark, colour = self._status()
        summary = tool_summary(self.call).split("\n", 1)[0]
        return Text.assemble(
            (f"{mark} ", f"bold {colour}"),
            (str(self.call.kind), "bold blue"),
            " ",
            (self.call.name, "bold"),
            ("  " + summary if summary else "", ""),
            no_wrap=False,
        )

    def renderable(self) -> RenderableType:
        parts: list[RenderableType] = [self._head()]
        if self._paths_line():
            parts.append(Text("  " + ", ".join(self.call.paths), style="dim"))
        if self.expanded and self.call.input:
            body = json.dumps(self.call.input, indent=2, ensure_ascii=False)
            parts.append(Padding(Text(body, style="dim"), (0, 0, 0, INDENT)))
        shown, hidden = self._output()
        if shown:
            error = self.result is not None and not self.result.ok
            parts.append(
                Padding(Text("\n".join(shown), style="red" if error else ""), (0, 0, 0, INDENT))
            )
        if hidden and not self.expanded:
            parts.append(_more(hidden))
        elif hidden:
            parts.append(Text(f"  … {hidden} more lines not shown", style="dim"))
        return Group(*parts)

    def estimate(self, width: int) -> int:
        height = wrapped_height(self._head().plain, width)
        if self._paths_line():
            height += 1
        if self.expanded and self.call.input:
            body = json.dumps(self.call.input, indent=2, ensure_ascii=False)
            height += wrapped_height(body, width - INDENT)
        shown, hidden = self._output()
        if shown:
            height += wrapped_height("\n".join(shown), width - INDENT)
        return height + (1 if hidden else 0) + 1

    def plain(self) -> str:
        text = self._head().plain
        shown, _ = self._output()
        if shown:
            text += "\n" + "\n".join(shown)
        return text


_PLAN_MARKS = {
    "pending": ("☐", ""),
    "in_progress": ("◐", "yellow"),
    "completed": ("☑", "green"),
}


class PlanBlock(Block):
    """The agent's plan: its steps with their status (a newer plan replaces it)."""

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.entries: tuple[PlanEntry, ...] = plan.entries

    def update(self, plan: Plan) -> None:
        self.entries = plan.entries
        self.changed()

    def renderable(self) -> RenderableType:
        rows = [Text("☰ plan", style="bold")]
        for entry in self.entries:
            mark, style = _PLAN_MARKS.get(entry.status, ("☐", ""))
            done = " dim" if entry.status == "completed" else ""
            rows.append(Text.assemble("  ", (mark, style), " ", (entry.content, style + done)))
        return Group(*rows)

    def estimate(self, width: int) -> int:
        return 1 + sum(wrapped_height(e.content, width - 4) for e in self.entries) + 1

    def plain(self) -> str:
        marks = [f"{_PLAN_MARKS.get(e.status, ('☐', ''))[0]} {e.content}" for e in self.entries]
        return "\n".join(["☰ plan", *marks])


class ErrorBlock(Block):
    """Something went wrong (a fatal error ends the session)."""

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__()
        self.message = message
        self.fatal = fatal

    def _text(self) -> str:
        suffix = " (the session cannot go on)" if self.fatal else ""
        return f"✖ {self.message}{suffix}"

    def renderable(self) -> RenderableType:
        return Text(self._text(), style="bold red")

    def estimate(self, width: int) -> int:
        return wrapped_height(self._text(), width) + 1

    def plain(self) -> str:
        return self._text()


class NoteBlock(Block):
    """A line aegis adds: a session started or resumed, a turn interrupted, history restored."""

    def __init__(self, text: str, style: str = "dim") -> None:
        super().__init__()
        self.text = text
        self.style = style

    def renderable(self) -> RenderableType:
        return Text(self.text, style=self.style)

    def estimate(self, width: int) -> int:
        return wrapped_height(self.text, width) + 1

    def plain(self) -> str:
        return self.text
