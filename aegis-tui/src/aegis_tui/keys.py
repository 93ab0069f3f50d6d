"""The keys of the TUI: one table, read by the app's bindings, the footer and the help screen."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Key:
    """A key of the main screen: what to press, the action it runs, what it does."""

    keys: str
    """Textual key names, comma-separated (the first is the one shown)."""
    action: str
    description: str
    footer: bool = False
    """Shown in the footer too (the help screen shows every key)."""
    priority: bool = False
    """Taken before the input box sees it (for keys the input box also binds)."""

    def binding(self, prefix: str = "") -> Binding:
        """The Textual binding; ``prefix`` names the action's namespace (``"app."``)."""
        return Binding(
            self.keys,
            prefix + self.action,
            self.description,
            show=self.footer,
            priority=self.priority,
        )


MAIN_KEYS: tuple[Key, ...] = (
    Key("ctrl+t", "new_tab", "New tab", footer=True),
    Key("ctrl+n", "pick_profile", "New tab with profile…", footer=True),
    Key("ctrl+w", "close_tab", "Close tab", footer=True, priority=True),
    Key("escape", "interrupt", "Interrupt", footer=True),
    Key("alt+right,ctrl+pagedown", "next_tab", "Next tab"),
    Key("alt+left,ctrl+pageup", "previous_tab", "Previous tab"),
    *(Key(f"alt+{n}", f"switch_tab({n - 1})", f"Tab {n}") for n in range(1, 10)),
    Key("ctrl+o", "toggle_details", "Expand/collapse tool results"),
    Key("pageup", "scroll_transcript(-1)", "Scroll up"),
    Key("pagedown", "scroll_transcript(1)", "Scroll down"),
    Key("f1", "help", "Help", footer=True),
    Key("f2", "queues", "Queues", footer=True),
    Key("f3", "workflows", "Workflows", footer=True),
)

APP_KEYS: tuple[Key, ...] = (Key("ctrl+q", "quit", "Quit", footer=True, priority=True),)
"""Keys of every screen."""

INPUT_KEYS: tuple[tuple[str, str], ...] = (
    ("enter", "Send the message (queued while the agent is busy)"),
    ("up / down", "Walk the history of sent messages"),
    ("click a block", "Expand or collapse a tool result or thinking"),
)
"""Keys of the input box and the mouse, listed on the help screen."""


def shown(keys: str) -> str:
    """How a binding's keys read on the help screen: ``alt+right / ctrl+pagedown``."""
    return " / ".join(keys.split(","))
