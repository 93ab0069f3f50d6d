"""The configuration of a Gemini CLI agent profile."""

from __future__ import annotations

from typing import ClassVar

from aegis.config.enums import Permission
from aegis.config.provider_config import ProviderConfig

APPROVAL_MODES: dict[Permission, str] = {
    Permission.read: "plan",
    Permission.write: "auto_edit",
    Permission.full: "yolo",
    Permission.auto: "default",
}
"""How aegis's permission levels map onto ``gemini --approval-mode``."""


class GeminiCLI(ProviderConfig):
    """Google's ``gemini`` CLI.

    Model strings are bare Gemini model names (e.g. ``gemini-3-flash-preview``,
    ``gemini-3.1-pro``). No effort field: Gemini doesn't expose one. Permission maps
    to its ``--approval-mode`` (read=plan, write=auto_edit, full=yolo, auto=default).
    """

    harness: ClassVar[str] = "gemini"

    @property
    def approval_mode(self) -> str:
        """The ``--approval-mode`` this profile's permission maps to."""
        return APPROVAL_MODES[self.permission]
