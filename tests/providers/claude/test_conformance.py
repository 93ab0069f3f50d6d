"""The provider conformance suite, run by ClaudeDriver on the real claude CLI (2.1.331)."""

from __future__ import annotations

from aegis.config import Agent
from aegis.config.enums import Effort, Permission
from aegis.testing.conformance import CliSetup, ProviderConformance
from aegis_claude.config import ClaudeCode
from tests.support.clis import claude_env, cli_path


class TestClaudeConformance(ProviderConformance):
    provider = "claude"
    shell_tool = "Bash"

    def environment(self, setup: CliSetup) -> dict[str, str]:
        return claude_env(setup.home.parent, setup.model.url).env

    def profile(self, setup: CliSetup) -> Agent:
        config = ClaudeCode(
            executable=str(cli_path("claude")),
            permission=Permission.full,
            model="claude-sonnet-4-5",
            effort=Effort.low,
            strict_mcp_config=True,
        )
        return Agent(provider=config)
