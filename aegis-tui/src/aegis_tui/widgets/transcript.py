"""The transcript of one tab: a Line API view that renders only the lines in sight.

:class:`TranscriptView` draws a :class:`~aegis_tui.timeline.Timeline`. It mounts
no widget per message: Textual asks it for the visible lines (``render_line``),
which it finds with a bisect on the timeline's cumulative heights and takes from
the blocks' cached strips. After events arrive, or the view scrolls or resizes,
:meth:`TranscriptView.settle` renders the blocks near the view exactly (the rest
keep estimated heights), keeps the line at the top of the view in place, and
follows the end of the transcript while the view is at the bottom.
"""

from __future__ import annotations

from rich.style import Style
from textual import events
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from aegis.events import Event
from aegis_tui.timeline import Timeline


class TranscriptView(ScrollView, can_focus=True):
    """The scrolling transcript of one session."""

    DEFAULT_CSS = """
    TranscriptView {
        background: $surface;
        padding: 0 1;
        scrollbar-gutter: stable;
    }
    """

    class Toggled(Message):
        """A block was expanded or collapsed by a click."""

    def __init__(self, timeline: Timeline | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.timeline = timeline or Timeline()
        self.follow = True
        """Whether new lines scroll into view (true while the view is at the bottom)."""
        self._settling = False
        self._settle_scheduled = False
        self._line_style: Style | None = None

    # --- feeding -------------------------------------------------------------------------

    def add_event(self, event: Event) -> bool:
        """Show ``event``; returns whether it changed anything visible."""
        changed = self.timeline.apply(event)
        if changed:
            self.schedule_settle()
        return changed

    def note(self, text: str, style: str = "dim") -> None:
        """Add a line of aegis's own to the transcript."""
        self.timeline.note(text, style)
        self.schedule_settle()

    def toggle_all(self) -> None:
        """Expand every tool result and thinking block, or collapse them all."""
        if self.timeline.toggle_all():
            self.schedule_settle()

    def schedule_settle(self) -> None:
        """Settle once after the current batch of changes (many events, one layout)."""
        if not self._settle_scheduled and self.is_mounted:
            self._settle_scheduled = True
            self.call_later(self.settle)

    # --- layout --------------------------------------------------------------------------

    @property
    def _content_width(self) -> int:
        return self.scrollable_content_region.width

    def settle(self) -> None:
        """Render the blocks near the view, fix the layout, and keep the view where it was."""
        self._settle_scheduled = False
        width = self._content_width
        timeline = self.timeline
        if width <= 0 or not self.display:
            return  # laid out when shown (on_resize / on_show call this again)
        timeline.set_width(width)
        height = max(self.scrollable_content_region.height, 1)
        console = self.app.console
        self._settling = True
        try:
            if not len(timeline):
                self.virtual_size = Size(width, 0)
                return
            if self.follow:
                # From the end backwards: the bottom of the transcript is what shows.
                covered, index = 0, len(timeline) - 1
                while index >= 0 and covered < 2 * height:
                    covered += len(timeline.materialize(index, console))
                    index -= 1
                self.virtual_size = Size(width, timeline.total)
                self.scroll_to(y=self.max_scroll_y, animate=False, force=True)
            else:
                top = round(self.scroll_y)
                anchor = timeline.block_at(top)
                into = top - timeline.offset(anchor)
                start = timeline.block_at(max(top - height, 0))
                covered, index = 0, start
                while index < len(timeline) and covered < 3 * height:
                    covered += len(timeline.materialize(index, console))
                    index += 1
                into = min(into, timeline.height(anchor) - 1)
                self.virtual_size = Size(width, timeline.total)
                self.scroll_to(y=timeline.offset(anchor) + into, animate=False, force=True)
            timeline.changed.clear()
            self.refresh()
        finally:
            self._settling = False

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self._settling:
            return
        # The user scrolled: follow the end again only once they are back at it.
        self.follow = new_value >= self.max_scroll_y
        if round(old_value) != round(new_value):
            self.schedule_settle()

    def on_resize(self, event: events.Resize) -> None:
        self.schedule_settle()

    def on_show(self, event: events.Show) -> None:
        self.schedule_settle()

    def on_mount(self) -> None:
        self.schedule_settle()

    # --- drawing -------------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        # The widget's style is worked out from its CSS on each read: once per frame is enough.
        self._line_style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._line_style = None

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self._content_width
        style = self._line_style or self.rich_style
        line = scroll_y + y
        timeline = self.timeline
        if not len(timeline) or line >= timeline.total:
            return Strip.blank(width, style)
        index = timeline.block_at(line)
        strips = timeline.blocks[index].lines(self.app.console, timeline.width)
        if len(strips) != timeline.height(index):
            # A block changed (or came into view) since the last layout: its real height
            # fixes the layout, once this frame is out (a refresh asked for while the
            # screen is being drawn can be lost with the frame's dirty regions).
            self.call_after_refresh(self.schedule_settle)
        row = line - timeline.offset(index)
        strip = strips[row] if row < len(strips) else Strip.blank(timeline.width)
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_style(
            style or Style.null()
        )

    def on_click(self, event: events.Click) -> None:
        if not len(self.timeline):
            return
        line = round(self.scroll_y) + event.y
        if line >= self.timeline.total:
            return
        if self.timeline.toggle(self.timeline.block_at(line)):
            self.schedule_settle()
            self.post_message(self.Toggled())

    # --- reading (tests, the benchmark) ----------------------------------------------------

    def visible_text(self) -> str:
        """The text of the lines in view (what a person reading the screen sees)."""
        height = self.scrollable_content_region.height
        return "\n".join(self.render_line(y).text.rstrip() for y in range(height)).strip("\n")
