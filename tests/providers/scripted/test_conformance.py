"""The provider conformance suite, run by the offline scripted agent.

It calls no model: its rules answer the suite's prompts as the fake model would.
"""

from __future__ import annotations

from aegis.builtins.scripted import Scripted, ScriptedToolCall, ScriptRule
from aegis.config import Agent
from aegis.events import ToolResult
from aegis.testing import isolated_env
from aegis.testing.conformance import (
    CliSetup,
    ConformanceSession,
    Prompts,
    ProviderConformance,
)


def _bash(command: str) -> tuple[ScriptedToolCall, ...]:
    return (ScriptedToolCall(tool="bash", input={"command": command}),)


RULES = (
    ScriptRule(match=Prompts.COUNTED, reply=Prompts.COUNTED_REPLY),
    ScriptRule(
        match=Prompts.SHELL, tool_calls=_bash(Prompts.SHELL_COMMAND), reply="tool said: {output}"
    ),
    ScriptRule(
        match=Prompts.MCP,
        tool_calls=(ScriptedToolCall(tool="mcp:test/record", input={"note": Prompts.MCP_NOTE}),),
        reply="tool said: {output}",
    ),
    ScriptRule(match=Prompts.AFTER_INTERRUPT, reply=Prompts.AFTER_INTERRUPT_REPLY),
    # A tool call first, so that the suite sees the turn under way.
    ScriptRule(match=Prompts.SLOW, tool_calls=_bash("true"), delay=30, reply="too late"),
    ScriptRule(match=Prompts.FAIL, error=Prompts.FAIL_MESSAGE),
    ScriptRule(match=Prompts.SLEEPER, tool_calls=_bash(Prompts.SLEEPER_COMMAND)),
)


class TestScriptedConformance(ProviderConformance):
    provider = "scripted"
    shell_tool = "bash"
    uses_fake_model = False
    api_error_is_fatal = False

    def environment(self, setup: CliSetup) -> dict[str, str]:
        return isolated_env(setup.home)

    def profile(self, setup: CliSetup) -> Agent:
        return Agent(provider=Scripted(rules=RULES, permission="full"))

    async def wait_turn_underway(
        self, session: ConformanceSession, *, requests: int, mark: int
    ) -> None:
        await session.recorder.seen(ToolResult, since=mark)
