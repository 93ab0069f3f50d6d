"""GeminiDriver on the real gemini CLI (0.61.0): the conformance suite, and gemini's quirks.

The quirk tests reuse the suite's sessions (a gemini process takes a second to start).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from aegis.config import Agent
from aegis.driver import Driver
from aegis.events import SessionStarted, StopReason, Usage
from aegis.testing.conformance import (
    CliSetup,
    ConformanceSession,
    Prompts,
    ProviderConformance,
)
from aegis.testing.fakemodel import FakeModelServer
from aegis_gemini.driver import GeminiDriver
from tests.providers.gemini.helpers import isolated_gemini, profile
from tests.support.clis import GEMINI_MODEL


class TestGeminiConformance(ProviderConformance):
    provider = "gemini"
    shell_tool = "run_shell_command"
    resumed_in = ""

    def environment(self, setup: CliSetup) -> dict[str, str]:
        return isolated_gemini(setup.home.parent, setup.model.url).env

    def profile(self, setup: CliSetup) -> Agent:
        return profile(isolated_gemini(setup.home.parent, setup.model.url))

    async def prepare_resume(self, setup: CliSetup, session_id: str) -> None:
        # gemini 0.61 wipes a chat resumed within the minute its file is named after
        # (shelter_chat_files): name it after this minute, so that the driver's shelter
        # is what keeps the conversation, whenever the test runs.
        self.resumed_in = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M")
        [chat] = setup.home.glob(f".gemini/tmp/*/chats/session-*-{session_id[:8]}.jsonl")
        chat.rename(chat.with_name(f"session-{self.resumed_in}-{session_id[:8]}.jsonl"))

    def check_resumed(self, driver: Driver) -> None:
        assert isinstance(driver, GeminiDriver)
        minute = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M")
        assert driver.sheltered or minute != self.resumed_in
        assert [(h.role, h.text) for h in driver.history] == [
            ("user", Prompts.REMEMBER),
            ("assistant", f"echo: {Prompts.REMEMBER}"),
        ]

    async def test_gemini_runs_the_profile_s_model_in_yolo_mode(
        self, conformance_sessions: dict[str, ConformanceSession]
    ) -> None:
        session = conformance_sessions["shared"].ready()
        assert isinstance(session.driver, GeminiDriver)
        assert session.started == SessionStarted(
            session.driver.harness_session_id or "", model=GEMINI_MODEL, resumed=False
        )
        assert re.fullmatch(r"[0-9a-f-]{36}", session.started.harness_session_id)
        argv = session.driver.command()
        assert argv[1:] == ["--acp", "-m", GEMINI_MODEL, "--skip-trust", "--approval-mode", "yolo"]
        end, _ = await session.turn(Prompts.HELLO)
        assert end.ok
        assert f"/models/{GEMINI_MODEL}:streamGenerateContent" in session.setup.model.log[-1].path

    async def test_usage_is_the_token_count_gemini_reports(
        self, conformance_sessions: dict[str, ConformanceSession]
    ) -> None:
        session = conformance_sessions["shared"].ready()
        end, events = await session.turn(Prompts.COUNTED)
        # gemini's _meta.quota.token_count of the turn, as the fake model reported it.
        assert end.usage == events.of(Usage)[0] == Usage(input_tokens=1234, output_tokens=56)

    async def test_gemini_drops_an_interrupted_prompt_from_its_history(
        self,
        conformance_sessions: dict[str, ConformanceSession],
        conformance_model: FakeModelServer,
    ) -> None:
        session = conformance_sessions["shared"].ready()
        cancelled = await self.interrupted_turn(session, "talk slowly, then be forgotten")
        after, _ = await session.turn("hello once more")
        assert cancelled.stop_reason is StopReason.cancelled and after.ok
        assert "talk slowly, then be forgotten" not in conformance_model.requests[-1].prompts

    async def test_an_unknown_session_s_failure_names_the_working_directory(
        self, conformance_sessions: dict[str, ConformanceSession]
    ) -> None:
        # gemini keeps chats per project folder: a session of another folder is unknown.
        failure = str(conformance_sessions["unknown"].failure)
        assert "refused session/load" in failure and "working directory" in failure
