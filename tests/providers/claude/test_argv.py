"""The command line and environment of a claude session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aegis.config import Agent
from aegis.config.enums import Effort, Permission
from aegis.driver import McpServer, SessionOptions
from aegis.errors import DriverError
from aegis_claude.argv import build_arguments, check_root_bypass, mcp_config
from aegis_claude.config import ClaudeCode
from aegis_claude.driver import ClaudeDriver
from aegis_claude.provider import ClaudeCodeProvider

SID = "8b5a0cad-9a6a-46c5-a05f-37fa1cbd2489"


def _argv(
    config: ClaudeCode,
    *,
    mcp_servers: tuple[McpServer, ...] = (),
    preamble: str | None = None,
) -> list[str]:
    options = SessionOptions(cwd=Path("."), mcp_servers=mcp_servers, preamble=preamble)
    config_path = "/dev/fd/7" if mcp_servers else None
    arguments = build_arguments(config, options, session_id=SID, mcp_config_path=config_path)
    return ["claude", *arguments]


def _driver(config: ClaudeCode, options: SessionOptions) -> ClaudeDriver:
    driver = ClaudeCodeProvider().open_driver(Agent(provider=config), options)
    assert isinstance(driver, ClaudeDriver)
    return driver


def _value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_argv_speaks_stream_json_with_partial_messages() -> None:
    argv = _argv(ClaudeCode())

    assert argv[:8] == [
        "claude",
        "-p",
        "--input-format",
        "stream-json",
        "--output-format",
        "stream-json",
        "--verbose",
        "--include-partial-messages",
    ]


@pytest.mark.parametrize(
    ("permission", "mode", "prompts"),
    [
        ("read", "plan", True),
        ("write", "acceptEdits", True),
        ("full", "bypassPermissions", False),
        ("auto", "default", True),
    ],
)
def test_permission_maps_to_mode_and_prompt_tool(permission: str, mode: str, prompts: bool) -> None:
    argv = _argv(ClaudeCode(permission=Permission(permission)))

    assert _value(argv, "--permission-mode") == mode
    # In bypass mode claude never asks, so nothing is there to answer.
    assert ("--permission-prompt-tool" in argv) is prompts
    if prompts:
        assert _value(argv, "--permission-prompt-tool") == "stdio"


def test_model_and_effort_are_passed_only_when_set() -> None:
    plain = _argv(ClaudeCode())
    tuned = _argv(ClaudeCode(model="opus", effort=Effort.high))

    assert "--model" not in plain and "--effort" not in plain
    assert _value(tuned, "--model") == "opus"
    assert _value(tuned, "--effort") == "high"


def test_new_session_gets_its_id_up_front_and_resume_reuses_one() -> None:
    new = _argv(ClaudeCode())
    resumed = build_arguments(
        ClaudeCode(), SessionOptions(cwd=Path("."), resume="old-id"), session_id="old-id"
    )

    assert _value(new, "--session-id") == SID and "--resume" not in new
    assert _value(resumed, "--resume") == "old-id" and "--session-id" not in resumed


def test_mcp_servers_become_one_http_config_read_from_an_inherited_pipe() -> None:
    servers = (
        McpServer("aegis", "http://127.0.0.1:1/mcp", {"Authorization": "Bearer t"}),
        McpServer("other", "http://127.0.0.1:2/mcp"),
    )
    argv = _argv(ClaudeCode(strict_mcp_config=True), mcp_servers=servers)

    # The token stays off the command line, which `ps` shows to every user.
    assert "--mcp-config=/dev/fd/7" in argv
    assert not [a for a in argv if "Bearer" in a]
    assert "--strict-mcp-config" in argv
    assert json.loads(mcp_config(servers)) == {
        "mcpServers": {
            "aegis": {
                "type": "http",
                "url": "http://127.0.0.1:1/mcp",
                "headers": {"Authorization": "Bearer t"},
            },
            "other": {"type": "http", "url": "http://127.0.0.1:2/mcp", "headers": {}},
        }
    }


def test_no_mcp_flags_without_servers_or_strictness() -> None:
    argv = _argv(ClaudeCode())

    assert not [a for a in argv if a.startswith(("--mcp-config", "--strict-mcp-config"))]


def test_preamble_is_appended_to_the_system_prompt_and_extra_args_come_last() -> None:
    config = ClaudeCode(extra_args=("--max-budget-usd", "1"))
    argv = _driver(config, SessionOptions(cwd=Path("."), preamble="You are Ada.")).command()

    assert _value(argv, "--append-system-prompt") == "You are Ada."
    assert argv[-2:] == ["--max-budget-usd", "1"]


def test_tool_search_is_off_unless_the_profile_or_session_sets_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENABLE_TOOL_SEARCH", "true")  # the user's shell does not decide
    options = SessionOptions(cwd=Path("."))

    def env(config: ClaudeCode, options: SessionOptions) -> dict[str, str]:
        return _driver(config, options).environment()

    assert env(ClaudeCode(), options)["ENABLE_TOOL_SEARCH"] == "false"
    profile = ClaudeCode(env={"ENABLE_TOOL_SEARCH": "auto"})
    assert env(profile, options)["ENABLE_TOOL_SEARCH"] == "auto"
    session = SessionOptions(cwd=Path("."), env={"ENABLE_TOOL_SEARCH": "true"})
    assert env(ClaudeCode(), session)["ENABLE_TOOL_SEARCH"] == "true"


def test_env_layers_process_then_profile_then_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEGIS_TEST_LAYER", "process")
    profile = ClaudeCode(env={"AEGIS_TEST_LAYER": "profile", "ONLY_PROFILE": "1"})

    plain = _driver(profile, SessionOptions(cwd=Path("."))).environment()
    overridden = _driver(
        profile, SessionOptions(cwd=Path("."), env={"AEGIS_TEST_LAYER": "s"})
    ).environment()

    assert plain["AEGIS_TEST_LAYER"] == "profile" and plain["ONLY_PROFILE"] == "1"
    assert overridden["AEGIS_TEST_LAYER"] == "s"


def test_root_in_bypass_mode_without_sandbox_flag_is_explained() -> None:
    full = ClaudeCode(permission=Permission.full)

    with pytest.raises(DriverError, match=r"root.*IS_SANDBOX=1") as error:
        check_root_bypass(full, {"IS_SANDBOX": "true"}, euid=0)
    assert "permission 'full'" in str(error.value)


@pytest.mark.parametrize(
    ("permission", "env", "euid"),
    [
        ("full", {"IS_SANDBOX": "1"}, 0),
        ("full", {}, 1000),
        ("write", {}, 0),
        ("auto", {}, 0),
    ],
)
def test_root_check_lets_safe_combinations_through(
    permission: str, env: dict[str, str], euid: int
) -> None:
    check_root_bypass(ClaudeCode(permission=Permission(permission)), env, euid=euid)
