"""The Claude Code provider object registered with aegis."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aegis.provider import Provider
from aegis_claude.config import ClaudeCode

if TYPE_CHECKING:
    from aegis.config.agent import Agent
    from aegis.driver import Driver, SessionOptions


class ClaudeCodeProvider(Provider[ClaudeCode]):
    """Drives ``claude -p`` over its stream-json protocol."""

    aliases = ("claude",)
    config_class = ClaudeCode
    executable = "claude"
    install_hint = "npm install -g @anthropic-ai/claude-code"
    description = "Anthropic's Claude Code CLI, over stream-json"

    def open_driver(self, agent: Agent, options: SessionOptions) -> Driver:
        """A :class:`~aegis_claude.driver.ClaudeDriver` for one session of ``agent``.

        A missing executable is reported by ``start()`` (``HarnessNotFound``), where
        the session layer expects start-up failures.
        """
        from aegis_claude.driver import ClaudeDriver

        return ClaudeDriver(self, self.checked_config(agent), options)
