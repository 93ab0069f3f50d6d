"""A transcript as blocks with a height index: events in, lines out, at any length.

:class:`Timeline` turns canonical events into :mod:`~aegis_tui.blocks` (streamed
text deltas grow one block, a tool result lands in its call's block) and keeps,
for the current width, every block's height and the cumulative heights: finding
the block at a line is a bisect, appending a block is O(1), and a block whose
height changes makes only the sums after it stale (they are recomputed lazily,
with :func:`itertools.accumulate`, the next time the index is read).

Heights are estimates until a block is rendered (:meth:`Timeline.materialize`),
which is what lets a 10 000-message transcript open and take new events without
rendering what nobody looks at. It holds no Textual widget; the view is
:class:`~aegis_tui.widgets.transcript.TranscriptView`.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate
from typing import TypeVar

from rich.console import Console
from textual.strip import Strip

from aegis.events import (
    AssistantMessage,
    Error,
    Event,
    PermissionAnswer,
    PermissionRequest,
    Plan,
    SessionStarted,
    StopReason,
    TextDelta,
    Thinking,
    ToolCall,
    ToolResult,
    TurnEnd,
    UserMessage,
)
from aegis_tui.blocks import (
    AssistantBlock,
    Block,
    ErrorBlock,
    NoteBlock,
    PlanBlock,
    ThinkingBlock,
    ToolBlock,
    UserBlock,
)
from aegis_tui.needs_you import answer_line, request_line

_B = TypeVar("_B", bound=Block)

_ENDINGS = {
    StopReason.cancelled: ("⊘ interrupted", "yellow"),
    StopReason.max_tokens: ("⚠ the turn stopped at the token limit", "yellow"),
    StopReason.refusal: ("⚠ the model refused", "yellow"),
}


class Timeline:
    """The blocks of one session's transcript and their height index."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.width = 80
        self._heights: list[int] = []
        self._offsets: list[int] = [0]
        """``_offsets[i]`` is the first line of block ``i``; the last item is the total."""
        self._stale_from = 0
        """Offsets after this block index are out of date."""
        self._open: AssistantBlock | ThinkingBlock | None = None
        """The block streaming deltas append to, if any."""
        self._tools: dict[str, ToolBlock] = {}
        self._turn_has_text = False
        self.changed: set[int] = set()
        """Indices of blocks changed since the owner last cleared this set."""

    # --- events → blocks -----------------------------------------------------------------

    def apply(self, event: Event) -> bool:
        """Add ``event`` to the transcript; returns whether anything visible changed."""
        if isinstance(event, TextDelta):
            if isinstance(self._open, AssistantBlock) and self._open.streaming:
                self._open.text += event.text
                self._touch(self._open)
            else:
                self._open = self._add(AssistantBlock(event.text, streaming=True))
            self._turn_has_text = True
            return True
        if isinstance(event, AssistantMessage):
            if isinstance(self._open, AssistantBlock) and self._open.streaming:
                self._open.text, self._open.streaming = event.text, False
                self._touch(self._open)
            else:
                self._add(AssistantBlock(event.text))
            self._open = None
            self._turn_has_text = True
            return True
        if isinstance(event, Thinking):
            if isinstance(self._open, ThinkingBlock):
                self._open.text += event.text
                self._touch(self._open)
            else:
                self._open = self._add(ThinkingBlock(event.text))
            return True
        self._open = None
        if isinstance(event, UserMessage):
            self._turn_has_text = False
            self._add(UserBlock(event.text, event.sender))
        elif isinstance(event, ToolCall):
            self._tools[event.id] = self._add(ToolBlock(event))
        elif isinstance(event, ToolResult):
            block = self._tools.pop(event.id, None)
            if block is None:  # a result whose call we never saw (a cut transcript)
                block = self._add(ToolBlock(ToolCall(event.id, "tool")))
            block.set_result(event)
            self._touch(block)
        elif isinstance(event, Plan):
            last = self.blocks[-1] if self.blocks else None
            if isinstance(last, PlanBlock):  # a plan replaces the one just before it
                last.update(event)
                self._touch(last)
            else:
                self._add(PlanBlock(event))
        elif isinstance(event, Error):
            self._add(ErrorBlock(event.message, fatal=event.fatal))
        elif isinstance(event, SessionStarted):
            model = f" · model {event.model}" if event.model else ""
            verb = "resumed" if event.resumed else "started"
            self._add(NoteBlock(f"── session {verb}{model}"))
        elif isinstance(event, PermissionRequest):
            self._add(NoteBlock(request_line(event), "bold yellow"))
        elif isinstance(event, PermissionAnswer):
            self._add(NoteBlock(answer_line(event), "green" if event.allowed else "red"))
        elif isinstance(event, TurnEnd):
            return self._end_turn(event)
        else:  # Usage, StateChanged: the status bar and the tab show those
            return False
        return True

    def _end_turn(self, end: TurnEnd) -> bool:
        shown = False
        if end.text and not self._turn_has_text:
            # A driver that reported the text only at the end of the turn.
            self._add(AssistantBlock(end.text))
            shown = True
        self._turn_has_text = False
        if end.stop_reason is StopReason.error:
            if end.error:
                self._add(ErrorBlock(f"the turn failed: {end.error}"))
                shown = True
        elif end.stop_reason in _ENDINGS:
            text, style = _ENDINGS[end.stop_reason]
            self._add(NoteBlock(text, style))
            shown = True
        return shown

    def note(self, text: str, style: str = "dim") -> None:
        """Add a line of aegis's own (not from the session)."""
        self._open = None
        self._add(NoteBlock(text, style))

    def toggle(self, index: int) -> bool:
        """Expand or collapse block ``index``; returns whether it changed."""
        block = self.blocks[index]
        if block.toggle():
            self._touch(block, index)
            return True
        return False

    def toggle_all(self) -> bool:
        """Expand every expandable block, or collapse them all when one is expanded."""
        expandable = [i for i, b in enumerate(self.blocks) if b.expandable]
        expand = not any(self.blocks[i].expanded for i in expandable)
        for index in expandable:
            if self.blocks[index].expanded != expand:
                self.toggle(index)
        return bool(expandable)

    # --- the height index ------------------------------------------------------------------

    def _add(self, block: _B) -> _B:
        self.blocks.append(block)
        height = block.estimate(self.width)
        self._heights.append(height)
        if self._stale_from >= len(self.blocks) - 1:
            self._offsets.append(self._offsets[-1] + height)
            self._stale_from = len(self.blocks)
        else:
            self._offsets.append(0)  # recomputed with the stale ones
        self.changed.add(len(self.blocks) - 1)
        return block

    def _touch(self, block: Block, index: int | None = None) -> None:
        """``block`` changed: its lines are stale, its height an estimate until rendered."""
        block.changed()
        if index is None:
            # The changed block is almost always one of the last few: look from the end.
            index = len(self.blocks) - 1
            while self.blocks[index] is not block:
                index -= 1
        self._set_height(index, block.estimate(self.width))
        self.changed.add(index)

    def _set_height(self, index: int, height: int) -> None:
        if self._heights[index] != height:
            self._heights[index] = height
            self._stale_from = min(self._stale_from, index)

    def _reindex(self) -> None:
        start = self._stale_from
        if start >= len(self.blocks):
            return
        sums = accumulate(self._heights[start:], initial=self._offsets[start])
        next(sums)  # the initial value: offsets[start] itself, already right
        self._offsets[start + 1 :] = sums
        self._stale_from = len(self.blocks)

    def set_width(self, width: int) -> None:
        """Lay the blocks out at ``width``: every height becomes an estimate (or a cached size)."""
        if width == self.width:
            return
        self.width = width
        for index, block in enumerate(self.blocks):
            exact = block.rendered_height(width)
            self._heights[index] = exact if exact is not None else block.estimate(width)
        self._stale_from = 0

    @property
    def total(self) -> int:
        """The height of the whole transcript, in lines."""
        self._reindex()
        return self._offsets[-1]

    def offset(self, index: int) -> int:
        """The first line of block ``index``."""
        self._reindex()
        return self._offsets[index]

    def height(self, index: int) -> int:
        return self._heights[index]

    def block_at(self, line: int) -> int:
        """The index of the block showing ``line`` (clamped to the first and last block)."""
        self._reindex()
        index = bisect_right(self._offsets, line) - 1
        return min(max(index, 0), len(self.blocks) - 1)

    def is_exact(self, index: int) -> bool:
        """Whether block ``index``'s height is its rendered height."""
        return self.blocks[index].rendered_height(self.width) == self._heights[index]

    def materialize(self, index: int, console: Console) -> list[Strip]:
        """Render block ``index`` at the current width and make its height exact."""
        lines = self.blocks[index].lines(console, self.width)
        self._set_height(index, len(lines))
        return lines

    def __len__(self) -> int:
        return len(self.blocks)
