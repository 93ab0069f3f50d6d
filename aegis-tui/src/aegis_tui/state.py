"""What the TUI remembers between runs: ``.aegis/tui.json``.

The file holds the open tabs (handle, agent profile, the harness session id
that resuming needs, and the name the user gave the tab), the shared terminals
shown in tabs (by name: the terminals live in the daemon), which tab was active,
and the input history. It is written atomically (a temporary file, then a
rename), so a crash leaves the old or the new file, never half of one; a file
damaged some other way raises :class:`BrokenState`, and :func:`set_aside` moves it
out of the way so the TUI can start fresh.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aegis.private_files import private_dir, write_private

STATE_FILE = "tui.json"
BROKEN_SUFFIX = ".broken"
FORMAT_VERSION = 1
HISTORY_KEPT = 200
"""Input history entries kept in the file (the newest ones)."""


class BrokenState(ValueError):
    """``tui.json`` exists but cannot be understood."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class TabRecord:
    """One tab as remembered: enough to resume its session and replay its transcript."""

    handle: str
    profile: str
    harness_session_id: str | None = None
    title: str | None = None
    """The name the user gave the tab (ctrl+r)."""


@dataclass(frozen=True)
class TuiState:
    """Everything ``tui.json`` holds."""

    tabs: tuple[TabRecord, ...] = ()
    active: int = 0
    """Index of the active tab."""
    history: tuple[str, ...] = field(default=())
    """Messages typed in the input box, oldest first."""
    terminals: tuple[str, ...] = ()
    """The names of the shared terminals shown in tabs, in the order of their tabs."""
    active_terminal: str | None = None
    """The terminal whose tab was active (then ``active`` is not), if one was."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "tabs": [
                {
                    "handle": tab.handle,
                    "profile": tab.profile,
                    "harness_session_id": tab.harness_session_id,
                    **({"title": tab.title} if tab.title else {}),
                }
                for tab in self.tabs
            ],
            "active": self.active,
            "history": list(self.history[-HISTORY_KEPT:]),
            "terminals": list(self.terminals),
            **({"active_terminal": self.active_terminal} if self.active_terminal else {}),
        }


def state_path(state_dir: Path) -> Path:
    """Where the state of the TUI of a project lives."""
    return state_dir / STATE_FILE


def load_state(path: Path) -> TuiState | None:
    """The state in ``path``; ``None`` when there is no file. Raises :class:`BrokenState`."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise BrokenState(path, f"cannot be read ({exc})") from None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise BrokenState(path, f"is not valid JSON ({exc})") from None
    return _parse(path, data)


def _parse(path: Path, data: Any) -> TuiState:
    if not isinstance(data, dict):
        raise BrokenState(path, "does not hold a JSON object")
    if data.get("version") != FORMAT_VERSION:
        raise BrokenState(path, f"has version {data.get('version')!r}, not {FORMAT_VERSION}")
    tabs_data = data.get("tabs", [])
    if not isinstance(tabs_data, list):
        raise BrokenState(path, "`tabs` is not a list")
    tabs: list[TabRecord] = []
    for number, item in enumerate(tabs_data, start=1):
        if not isinstance(item, dict):
            raise BrokenState(path, f"tab {number} is not an object")
        handle, profile = item.get("handle"), item.get("profile")
        session_id = item.get("harness_session_id")
        if not isinstance(handle, str) or not handle:
            raise BrokenState(path, f"tab {number} has no handle")
        if not isinstance(profile, str) or not profile:
            raise BrokenState(path, f"tab {number} has no profile")
        if session_id is not None and not isinstance(session_id, str):
            raise BrokenState(path, f"tab {number} has a harness_session_id that is not a string")
        title = item.get("title")
        if title is not None and not isinstance(title, str):
            raise BrokenState(path, f"tab {number} has a title that is not a string")
        tabs.append(TabRecord(handle, profile, session_id, title or None))
    active = data.get("active", 0)
    if not isinstance(active, int) or isinstance(active, bool):
        raise BrokenState(path, "`active` is not a number")
    history = data.get("history", [])
    if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
        raise BrokenState(path, "`history` is not a list of strings")
    active = min(max(active, 0), max(len(tabs) - 1, 0))
    terminals = data.get("terminals", [])  # absent in files of older versions
    if not isinstance(terminals, list) or not all(isinstance(t, str) and t for t in terminals):
        raise BrokenState(path, "`terminals` is not a list of names")
    active_terminal = data.get("active_terminal")
    if active_terminal is not None and active_terminal not in terminals:
        raise BrokenState(path, "`active_terminal` is not one of `terminals`")
    return TuiState(tuple(tabs), active, tuple(history), tuple(terminals), active_terminal)


def save_state(path: Path, state: TuiState) -> None:
    """Write ``state`` to ``path`` atomically."""
    private_dir(path.parent)
    write_private(path, json.dumps(state.as_dict(), indent=1, ensure_ascii=False) + "\n")


def set_aside(path: Path) -> Path:
    """Move a damaged state file to ``<name>.broken`` (replacing an older one); returns it."""
    target = path.with_name(path.name + BROKEN_SUFFIX)
    os.replace(path, target)
    return target
