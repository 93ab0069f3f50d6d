"""The enumerations used in agent profiles."""

from __future__ import annotations

from enum import Enum


class Permission(str, Enum):
    """How much an agent may do without asking.

    Each provider maps these onto its CLI's own modes:

    ``read``
        Look but don't touch: planning / read-only mode.
    ``write``
        Edit files in the working directory without asking; other actions ask.
    ``full``
        Do anything without asking (the CLI's "yolo" / bypass mode).
    ``auto``
        The CLI's default behaviour.
    """

    read = "read"
    write = "write"
    full = "full"
    auto = "auto"

    def __str__(self) -> str:
        return self.value


class Effort(str, Enum):
    """How hard the model should think (Claude Code only)."""

    low = "low"
    medium = "medium"
    high = "high"
    max = "max"

    def __str__(self) -> str:
        return self.value
