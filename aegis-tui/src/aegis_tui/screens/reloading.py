"""A full screen of what the daemon holds, read again while it is shown."""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.screen import Screen

from aegis_tui.widgets.key_bar import mark_short


class ReloadingScreen(Screen[None]):
    """Read again every ``refresh_every`` seconds (``None``: only on f5, as tests drive
    it) and on ``action_refresh``; short terminals get its ``-short`` layout.

    A subclass sets :attr:`FOCUS`, sets ``refresh_every`` and implements :meth:`reload`.
    """

    FOCUS: ClassVar[str]
    """The selector of the widget that has the focus when the screen opens."""

    refresh_every: float | None = None

    def on_resize(self, event: events.Resize) -> None:
        mark_short(self, event.size.height)

    async def on_mount(self) -> None:
        self.query_one(self.FOCUS).focus()
        await self.reload()
        if self.refresh_every:
            self.set_interval(self.refresh_every, self.reload)

    async def action_refresh(self) -> None:
        await self.reload()

    async def reload(self) -> None:
        """Read what the screen shows again, and show it."""
        raise NotImplementedError
