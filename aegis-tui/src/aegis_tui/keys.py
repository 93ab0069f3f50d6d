"""The keys of the TUI: one table, read by the app's bindings, the footer and the help screen."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

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
    in_terminal: bool = False
    """Still the app's when a terminal tab has the keyboard (the others go to its shell)."""

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
    # The footer shows keys in this order and drops what does not fit at the right:
    # the most needed ones come first (help, the dashboards), the tab keys after.
    Key("f1", "help", "Help", footer=True, in_terminal=True),
    Key("f2", "queues", "Queues", footer=True, in_terminal=True),
    Key("f3", "workflows", "Workflows", footer=True, in_terminal=True),
    Key("f4", "diff", "The tab's changes in its worktree (diff)"),
    Key(
        "f6",
        "terminal",
        "Terminal tab: a new shared terminal, or one open",
        priority=True,
        in_terminal=True,
    ),
    Key("f7", "canvas", "Shared canvases, live", priority=True, in_terminal=True),
    Key(
        "f8",
        "needs_you",
        "Needs you: the approvals and questions waiting, of every session",
        priority=True,
        in_terminal=True,
    ),
    Key("ctrl+y", "answer_request", "Answer the tab's permission request", priority=True),
    Key("escape", "interrupt", "Interrupt", footer=True),
    Key("ctrl+t", "new_tab", "New tab", footer=True),
    Key("ctrl+n", "pick_profile", "New tab with profile…", footer=True),
    Key("ctrl+w", "close_tab", "Close tab", footer=True, priority=True, in_terminal=True),
    Key("ctrl+r", "rename_tab", "Rename tab", priority=True),
    Key("alt+right,ctrl+pagedown", "next_tab", "Next tab", in_terminal=True),
    Key("alt+left,ctrl+pageup", "previous_tab", "Previous tab", in_terminal=True),
    *(Key(f"alt+{n}", f"switch_tab({n - 1})", f"Tab {n}", in_terminal=True) for n in range(1, 10)),
    Key("ctrl+o", "toggle_details", "Expand/collapse tool results"),
    Key("pageup", "scroll_transcript(-1)", "Scroll up"),
    Key("pagedown", "scroll_transcript(1)", "Scroll down"),
)

APP_KEYS: tuple[Key, ...] = (Key("ctrl+q", "quit", "Quit", footer=True, priority=True),)
"""Keys of every screen."""

TERMINAL_PASSES: frozenset[str] = frozenset(
    name
    for key in (*MAIN_KEYS, *APP_KEYS)
    if key.in_terminal or key in APP_KEYS
    for name in key.keys.split(",")
)
"""The keys a terminal tab leaves to the app; every other key goes to its shell."""

SHELL_TAKES: frozenset[str] = frozenset(
    key.action for key in MAIN_KEYS if key.priority and not key.in_terminal
)
"""Actions of priority keys that a terminal tab's shell gets instead (ctrl+r: its
history search)."""

INPUT_KEYS: tuple[tuple[str, str], ...] = (
    ("enter", "Send the message (queued while the agent is busy)"),
    ("ctrl+j / alt+enter", "A new line in the message (ctrl+j works in every terminal)"),
    ("ctrl+p", "Show a folded paste ([pasted N lines]) in full"),
    ("up / down", "Walk the history of sent messages (from the first / last line)"),
    ("click a block", "Expand or collapse a tool result or thinking"),
)
"""Keys of the input box and the mouse, listed on the help screen."""


def footer_keys() -> list[tuple[str, str]]:
    """The keys the main screen's footer shows, the most needed first: help, the
    dashboards and quit come before the tab keys, so that a narrow terminal keeps them."""
    keys = [key for key in MAIN_KEYS if key.footer]
    return [(short(key.keys), key.description) for key in (*keys[:3], *APP_KEYS, *keys[3:])]


TERMINAL_FOOTER: tuple[tuple[str, str], ...] = (
    ("f1", "Help"),
    ("f2", "Queues"),
    ("f3", "Workflows"),
    ("^q", "Quit"),
    ("alt+←/→", "Tabs"),
    ("^w", "Close tab (the terminal goes on)"),
    ("f6", "Terminals"),
    ("f8", "Needs you"),
)
"""The main screen's footer while a terminal tab is shown: the keys its shell leaves
to the app (every other key goes to the shell)."""


def short(keys: str) -> str:
    """The first of ``keys`` as the footer writes it: ``^t``, ``f1``, ``esc``."""
    first = keys.split(",")[0]
    if first.startswith("ctrl+"):
        return "^" + first.removeprefix("ctrl+")
    return {"escape": "esc"}.get(first, first)


def shown(keys: str) -> str:
    """How a binding's keys read on the help screen: ``alt+right / ctrl+pagedown``."""
    return " / ".join(keys.split(","))


class _TerminalKey(str, Enum):
    """Key names for sequences that Textual reads otherwise (see :func:`read_alt_keys`)."""

    ALT_1 = "alt+1"
    ALT_2 = "alt+2"
    ALT_3 = "alt+3"
    ALT_4 = "alt+4"
    ALT_5 = "alt+5"
    ALT_6 = "alt+6"
    ALT_7 = "alt+7"
    ALT_8 = "alt+8"
    ALT_9 = "alt+9"
    ALT_ENTER = "alt+enter"


def read_alt_keys() -> None:
    """Make Textual read ``ESC 1`` … ``ESC 9`` as alt+1 … alt+9, and ``ESC CR`` as alt+enter.

    Most terminals (xterm, GNOME's, iTerm2 with "Esc+", tmux) send Alt+key as ESC
    followed by the key. Textual's table maps ESC+digit to the characters macOS types
    for Option+digit (``¡™£¢∞§¶•ª``, for WezTerm), so alt+1 typed ``¡`` into the
    input box instead of switching tabs; and it reads ESC CR as a plain enter. The
    table is Textual's own (its parser reads it for every key): the entries changed
    here are only those sequences.
    """
    from textual import _ansi_sequences

    table: dict[str, object] = _ansi_sequences.ANSI_SEQUENCES_KEYS  # type: ignore[assignment]
    for n in range(1, 10):
        table[f"\x1b{n}"] = (_TerminalKey(f"alt+{n}"),)
    table["\x1b\r"] = (_TerminalKey.ALT_ENTER,)
