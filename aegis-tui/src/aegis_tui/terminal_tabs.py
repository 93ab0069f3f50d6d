"""Choosing the shared terminal a new terminal tab shows (f6)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

DEFAULT_NAME = "shell"
"""The name of the first terminal the TUI starts; the next ones are ``shell-2`` ..."""

NEW_TERMINAL = "\0new"
"""The choice of the terminal picker that starts a new terminal (no terminal's name)."""


def new_terminal_name(taken: Collection[str]) -> str:
    """``shell``, else the first ``shell-N`` (N from 2) not in ``taken``."""
    if DEFAULT_NAME not in taken:
        return DEFAULT_NAME
    number = 2
    while f"{DEFAULT_NAME}-{number}" in taken:
        number += 1
    return f"{DEFAULT_NAME}-{number}"


def terminal_choices(
    terminals: Sequence[Mapping[str, Any]], tabbed: Collection[str]
) -> list[tuple[str, str]]:
    """The picker's ``(id, label)`` choices: each live terminal of the daemon (what runs
    in it, whether a tab shows it already), then a new one."""
    choices = []
    for terminal in terminals:
        name = str(terminal["name"])
        running = terminal.get("running")
        label = f"{name}  ({terminal.get('shell', '?')}"
        label += f", running: {running})" if running else ", idle)"
        if name in tabbed:
            label += "  · its tab is open"
        choices.append((name, label))
    choices.append(
        (NEW_TERMINAL, f"+ a new terminal ({new_terminal_name([c[0] for c in choices])})")
    )
    return choices
