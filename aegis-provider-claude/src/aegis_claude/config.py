"""The configuration of a Claude Code agent profile."""

from __future__ import annotations

from typing import ClassVar

from aegis.config.enums import Effort, Permission
from aegis.config.provider_config import ProviderConfig

PERMISSION_MODES: dict[Permission, str] = {
    Permission.read: "plan",
    Permission.write: "acceptEdits",
    Permission.full: "bypassPermissions",
    Permission.auto: "default",
}
"""How aegis's permission levels map onto ``claude --permission-mode``."""


class ClaudeCode(ProviderConfig):
    """Anthropic's ``claude`` CLI.

    Has an ``effort`` field (low|medium|high|max) that no other provider currently
    exposes. Model strings are what ``claude --model`` accepts (``opus``,
    ``sonnet``, or a full model id).
    """

    harness: ClassVar[str] = "claude-code"

    effort: Effort | None = None
    """How hard the model thinks (``claude --effort``); ``None`` keeps the CLI's default."""

    strict_mcp_config: bool = False
    """Use only the MCP servers aegis passes, ignoring the user's own MCP configuration."""

    @property
    def permission_mode(self) -> str:
        """The ``--permission-mode`` this profile's permission maps to."""
        return PERMISSION_MODES[self.permission]
