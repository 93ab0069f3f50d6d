"""Messages waiting in the active session's inbox until the agent is ready for them."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

from aegis_tui import formatting


class QueuedMessages(Static):
    """Shows the messages typed while the agent was busy, until each is delivered."""

    DEFAULT_CSS = """
    QueuedMessages {
        height: auto;
        max-height: 5;
        padding: 0 1;
        color: $warning;
        display: none;
    }
    """

    def show(self, pending: Sequence[str]) -> None:
        """Draw ``pending`` (oldest first); hidden when there is none."""
        self.display = bool(pending)
        if not pending:
            return
        text = Text(no_wrap=True, overflow="ellipsis")
        for number, message in enumerate(pending):
            if number:
                text.append("\n")
            text.append("↳ queued ", "bold")
            text.append(formatting.one_line(message, 200))
        self.update(text)
