"""The Claude Code provider object registered with aegis."""

from __future__ import annotations

from aegis.provider import Provider
from aegis_claude.config import ClaudeCode


class ClaudeCodeProvider(Provider):
    """Drives ``claude -p`` over its stream-json protocol."""

    name = "claude-code"
    aliases = ("claude",)
    config_class = ClaudeCode
    executable = "claude"
    install_hint = "npm install -g @anthropic-ai/claude-code"
    description = "Anthropic's Claude Code CLI, over stream-json"
