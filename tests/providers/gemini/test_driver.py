"""GeminiDriver without a model: its command line, its refusals, and its chat-file shelter."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from aegis.builtins.scripted import Scripted
from aegis.config import Agent
from aegis.driver import SessionOptions
from aegis.errors import DriverError, HarnessNotFound
from aegis.registry import get_registry
from aegis_gemini.driver import GeminiDriver, shelter_chat_files
from tests.providers.gemini.helpers import Recorder, open_driver, profile

pytestmark = pytest.mark.anyio

SESSION = "45d8cd06-f93a-46b0-ab92-3fac7794b02b"
NOW = datetime(2026, 11, 25, 9, 27, 41, tzinfo=UTC)


@pytest.mark.parametrize(
    ("permission", "mode"),
    [("read", "plan"), ("write", "auto_edit"), ("full", "yolo"), ("auto", "default")],
)
def test_the_command_carries_the_model_and_the_permission_s_approval_mode(
    permission: str, mode: str, tmp_path: Path
) -> None:
    agent = profile(model="gemini-3-flash-preview", permission=permission, extra_args=("-d",))
    driver = open_driver(agent, tmp_path, Recorder())
    assert driver.command() == [
        "gemini",
        "--acp",
        "-m",
        "gemini-3-flash-preview",
        "--skip-trust",
        "--approval-mode",
        mode,
        "-d",
    ]
    assert driver.environment()["GEMINI_CLI_NO_RELAUNCH"] == "true"


def test_without_a_model_gemini_chooses_and_extra_args_may_name_one(tmp_path: Path) -> None:
    agent = profile(model=None, executable="/opt/gemini", extra_args=("--model", "x"))
    argv = open_driver(agent, tmp_path, Recorder()).command()
    assert argv[0] == "/opt/gemini"
    assert argv[1:] == ["--acp", "--skip-trust", "--approval-mode", "yolo", "--model", "x"]


@pytest.mark.parametrize(
    "extra",
    [("--approval-mode", "plan"), ("--approval-mode=plan",), ("--yolo",), ("-y",), ("-m", "x")],
)
async def test_extra_args_repeating_aegis_s_flags_are_refused_before_gemini_starts(
    extra: tuple[str, ...], tmp_path: Path
) -> None:
    agent = profile(extra_args=extra)
    with anyio.fail_after(10):
        async with open_driver(agent, tmp_path, Recorder()) as driver:
            with pytest.raises(DriverError, match=r"extra_args hold") as raised:
                await driver.start()
    assert driver.process is None, "nothing was started"
    if extra[0] != "-m":
        assert "permission" in str(raised.value)


async def test_a_missing_executable_says_how_to_install_gemini(tmp_path: Path) -> None:
    missing = profile(executable=str(tmp_path / "no-such-gemini"))
    not_on_path = profile()
    for agent, env in ((missing, {}), (not_on_path, {"PATH": str(tmp_path)})):
        options = SessionOptions(cwd=tmp_path, env=env)
        with anyio.fail_after(10):
            async with get_registry().get("gemini").provider.open_driver(agent, options) as driver:
                with pytest.raises(HarnessNotFound, match=r"npm install -g @google/gemini-cli"):
                    await driver.start()


def test_the_provider_opens_gemini_drivers_only_for_gemini_profiles(tmp_path: Path) -> None:
    provider = get_registry().get("gemini").provider
    options = SessionOptions(cwd=tmp_path)
    assert isinstance(provider.open_driver(profile(), options), GeminiDriver)
    with pytest.raises(DriverError, match="not GeminiCLI"):
        provider.open_driver(Agent(provider=Scripted()), options)


def _chat(folder: Path, name: str, session_id: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps({"sessionId": session_id, "kind": "main"}) + "\n")
    return path


def test_only_this_session_s_chat_file_of_the_current_minute_is_moved_aside(
    tmp_path: Path,
) -> None:
    chats = tmp_path / ".gemini" / "tmp" / "project" / "chats"
    current = _chat(chats, "session-2026-11-25T09-27-45d8cd06.jsonl", SESSION)
    older = _chat(chats, "session-2026-11-25T09-26-45d8cd06.jsonl", SESSION)
    other = _chat(chats, "session-2026-11-25T09-27-aaaaaaaa.jsonl", "aaaaaaaa-other")
    # Same short id, another session: gemini tells sessions apart by the id inside.
    clash = _chat(tmp_path / ".gemini/tmp/other/chats", current.name, SESSION[:8] + "-else")

    moved = shelter_chat_files(tmp_path, SESSION, NOW)

    assert moved == [chats / "session-2026-11-25T09-27-kept1-45d8cd06.jsonl"]
    assert json.loads(moved[0].read_text())["sessionId"] == SESSION
    assert not current.exists()
    assert older.exists() and other.exists() and clash.exists()
    # A chat file gemini starts later in this minute does not overwrite the kept one.
    again = _chat(chats, current.name, SESSION)
    assert shelter_chat_files(tmp_path, SESSION, NOW) == [
        chats / "session-2026-11-25T09-27-kept2-45d8cd06.jsonl"
    ]
    assert not again.exists() and moved[0].exists()


def test_nothing_is_moved_without_a_chat_file_of_the_current_minute(tmp_path: Path) -> None:
    chats = tmp_path / ".gemini" / "tmp" / "project" / "chats"
    kept = _chat(chats, "session-2026-11-25T09-26-45d8cd06.jsonl", SESSION)
    (chats / "session-2026-11-25T09-27-45d8cd06.jsonl").write_text("not json\n")
    assert shelter_chat_files(tmp_path, SESSION, NOW) == []
    assert shelter_chat_files(tmp_path / "nowhere", SESSION, NOW) == []
    assert kept.exists()
