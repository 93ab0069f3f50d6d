"""OpenCodeDriver on the real opencode CLI (1.18.33): the conformance suite, and opencode's
quirks on the suite's sessions (an opencode process takes seconds to start)."""

from __future__ import annotations

import re
from typing import Any

from aegis.config import Agent
from aegis.driver import Driver
from aegis.events import StopReason, ToolCall, ToolKind, ToolResult, Usage
from aegis.testing.conformance import (
    CliSetup,
    ConformanceSession,
    Prompts,
    ProviderConformance,
)
from aegis.testing.fakemodel import FakeModelServer
from aegis_opencode.driver import OpenCodeDriver
from tests.providers.opencode.helpers import MODEL, isolated_opencode, profile

PROFILES: dict[str, dict[str, Any]] = {
    "read": {"permission": "read"},
    "write": {"permission": "write"},
    "bad-model": {"model": "fake/m9"},
}
"""The profiles of the extra sessions, by name (the suite's sessions are ``full``)."""


class TestOpenCodeConformance(ProviderConformance):
    provider = "opencode"
    shell_tool = "bash"
    extra_sessions = tuple(PROFILES)

    def environment(self, setup: CliSetup) -> dict[str, str]:
        return isolated_opencode(setup.home.parent, setup.model.url).env.env

    def profile(self, setup: CliSetup) -> Agent:
        project = isolated_opencode(setup.home.parent, setup.model.url)
        return profile(project, **PROFILES.get(setup.name, {}))

    def check_resumed(self, driver: Driver) -> None:
        assert isinstance(driver, OpenCodeDriver)
        assert [(h.role, h.text) for h in driver.history] == [
            ("user", Prompts.REMEMBER),
            ("assistant", f"echo: {Prompts.REMEMBER}"),
        ]
        option = driver.state.config_option("model")
        assert option is not None and option["currentValue"] == MODEL

    async def test_the_profile_s_model_is_chosen_over_opencode_s_default(
        self,
        conformance_sessions: dict[str, ConformanceSession],
        conformance_model: FakeModelServer,
    ) -> None:
        session = conformance_sessions["shared"].ready()
        assert isinstance(session.driver, OpenCodeDriver)
        assert session.started is not None and session.started.model == MODEL
        assert session.started.harness_session_id.startswith("ses_")
        option = session.driver.state.config_option("model")
        assert option is not None and option["currentValue"] == MODEL
        assert session.driver.command()[1:] == ["acp", "--cwd", str(session.driver.cwd)]
        end, _ = await session.turn(Prompts.HELLO)
        # The fake provider's default is m1: the profile's model was chosen over it.
        assert end.ok and conformance_model.requests[-1].model == MODEL.split("/")[1]

    async def test_usage_is_the_token_count_opencode_reports(
        self, conformance_sessions: dict[str, ConformanceSession]
    ) -> None:
        session = conformance_sessions["shared"].ready()
        end, events = await session.turn(Prompts.COUNTED)
        # opencode's usage {inputTokens, outputTokens, totalTokens}, from the fake model.
        assert end.usage == events.of(Usage)[0] == Usage(input_tokens=1234, output_tokens=56)

    async def test_opencode_keeps_an_interrupted_prompt_unanswered_in_its_history(
        self,
        conformance_sessions: dict[str, ConformanceSession],
        conformance_model: FakeModelServer,
    ) -> None:
        session = conformance_sessions["shared"].ready()
        cancelled = await self.interrupted_turn(session, "talk slowly, then stay unanswered")
        after, _ = await session.turn("hello once more")
        assert cancelled.stop_reason is StopReason.cancelled and after.ok
        assert conformance_model.requests[-1].prompts[-2:] == (
            "talk slowly, then stay unanswered",
            "hello once more",
        )

    async def test_read_and_write_profiles_limit_what_opencode_may_run(
        self,
        conformance_sessions: dict[str, ConformanceSession],
        conformance_model: FakeModelServer,
    ) -> None:
        read, write = conformance_sessions["read"].ready(), conformance_sessions["write"].ready()
        read_end, _ = await read.turn("read only: which tools?")
        write_end, events = await write.turn(Prompts.SHELL)

        # read: opencode does not even offer the model its shell or its editing tools.
        [offered] = [
            r.tools for r in conformance_model.requests if r.user_text == "read only: which tools?"
        ]
        assert "read" in offered and not {"bash", "edit", "write"} & set(offered)
        assert read_end.ok
        # write: the shell asks, and aegis answers for the profile: no.
        [call] = events.of(ToolCall)
        [result] = events.of(ToolResult)
        assert (call.name, call.kind) == ("bash", ToolKind.execute) and result.id == call.id
        assert not result.ok and "permission 'write'" in result.output
        assert write_end.ok, "a refused tool is the agent's business, not a failed turn"

    async def test_a_model_opencode_does_not_offer_fails_the_start_naming_those_it_does(
        self, conformance_sessions: dict[str, ConformanceSession]
    ) -> None:
        session = conformance_sessions["bad-model"]
        assert session.started is None and session.failure is not None
        message = str(session.failure)
        assert "no model 'fake/m9'" in message
        assert re.search(r"fake/m1\b.*fake/m2\b", message)
