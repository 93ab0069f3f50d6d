"""The ``aegis`` command line: version, providers, config check/show, init, default command."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import aegis
from aegis.cli import AegisGroup, cli
from aegis.config import load_config
from aegis_claude.config import ClaudeCode
from aegis_gemini.config import GeminiCLI
from tests.fixtures.fakes import AEGIS, clean_env, run, run_aegis, write_fake_executable

SYSTEM_PATH = "/usr/bin:/bin"
"""PATH of tests that control which harness CLIs are found: no real claude/gemini/opencode."""


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), prog_name="aegis")


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of fake harness CLIs, alone on PATH with the system folders."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}:{SYSTEM_PATH}")
    return folder


# --- aegis --version and laziness -----------------------------------------------------


def test_version_option_prints_the_package_version() -> None:
    result = invoke("--version")

    assert result.exit_code == 0
    assert result.output == f"aegis {aegis.__version__}\n"
    assert invoke("-V").output == result.output


def test_version_imports_no_pydantic_plugins_providers_or_tui(tmp_path: Path) -> None:
    done = run(
        [sys.executable, "-X", "importtime", AEGIS, "--version"],
        cwd=tmp_path,
        env=clean_env(home=tmp_path),
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"aegis {aegis.__version__}\n"
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "aegis.cli" in imported  # the measurement saw aegis's own imports
    top_level = {name.partition(".")[0] for name in imported}
    for heavy in ("pydantic", "pydantic_core", "textual", "pluggy"):
        assert heavy not in top_level
    for package in ("aegis_claude", "aegis_gemini", "aegis_opencode", "aegis_tui"):
        assert package not in top_level
    assert not {"aegis.plugins", "aegis.registry", "aegis.config"} & imported


def test_python_dash_m_aegis_runs_the_cli(tmp_path: Path) -> None:
    done = run(
        [sys.executable, "-m", "aegis", "--version"], cwd=tmp_path, env=clean_env(home=tmp_path)
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"aegis {aegis.__version__}\n"


# --- the default command --------------------------------------------------------------


def test_tui_is_the_default_command_once_plugin_commands_are_loaded() -> None:
    assert isinstance(cli, AegisGroup)

    cli.load_plugin_commands()

    assert cli.default_command == "tui"
    assert "tui" in cli.commands


def test_bare_aegis_opens_the_tui(
    monkeypatch: pytest.MonkeyPatch, write_config: Callable[[str], Path]
) -> None:
    import aegis_tui.launch

    calls: list[dict[str, Any]] = []

    def fake_run_app(**kw: Any) -> int:
        calls.append(kw)
        return 0

    monkeypatch.setattr(aegis_tui.launch, "run_app", fake_run_app)

    result = CliRunner().invoke(cli, ["--config", "elsewhere.py"], prog_name="aegis")

    assert result.exit_code == 0, result.output
    assert len(calls) == 1
    assert calls[0]["search_paths"] == [Path("elsewhere.py")]


def test_bare_aegis_without_tui_plugin_prints_help(tmp_path: Path) -> None:
    done = run_aegis(cwd=tmp_path, env=clean_env(home=tmp_path, plugins="claude,gemini"))

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: aegis")
    commands = re.findall(r"^  (\S+)", done.stdout.partition("Commands:")[2], re.M)
    assert {"config", "init", "plugins", "providers"} <= set(commands)
    assert "tui" not in commands


def test_help_lists_core_and_plugin_commands() -> None:
    result = invoke("--help")

    assert result.exit_code == 0
    for command in ("config", "init", "plugins", "providers", "tui"):
        assert re.search(rf"^  {command}\b", result.output, re.M)


# --- aegis providers ------------------------------------------------------------------


def test_providers_lists_name_aliases_distribution_executable_and_version(
    fake_bin: Path,
) -> None:
    claude = write_fake_executable(fake_bin, "claude", "2.1.3 (Claude Code)")

    result = invoke("providers")

    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert result.stdout.split()[:5] == ["NAME", "ALIASES", "DISTRIBUTION", "EXECUTABLE", "VERSION"]
    assert set(rows) == {"scripted", "claude-code", "gemini", "opencode", "example"}
    assert rows["claude-code"].split()[:4] == [
        "claude-code",
        "claude",
        "aegis-provider-claude",
        str(claude),
    ]
    assert rows["claude-code"].endswith("2.1.3 (Claude Code)")
    assert "not found: npm install -g @google/gemini-cli" in rows["gemini"]
    assert "(built in)" in rows["scripted"]  # fmt: skip


def test_providers_json_reports_found_and_missing_executables(fake_bin: Path) -> None:
    claude = write_fake_executable(fake_bin, "claude", "2.1.3 (Claude Code)")

    result = invoke("providers", "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    by_name = {item["name"]: item for item in data["providers"]}
    assert by_name["claude-code"] == {
        "name": "claude-code",
        "aliases": ["claude"],
        "config_class": "ClaudeCode",
        "distribution": "aegis-provider-claude",
        "plugin": "claude",
        "executable": "claude",
        "executable_path": str(claude),
        "version": "2.1.3 (Claude Code)",
        "install_hint": "npm install -g @anthropic-ai/claude-code",
        "description": by_name["claude-code"]["description"],
    }
    assert by_name["gemini"]["executable_path"] is None
    assert by_name["gemini"]["version"] is None
    assert by_name["opencode"]["aliases"] == ["open-code"]
    assert by_name["scripted"]["executable"] is None
    assert data["failed_plugins"] == []
    assert data["conflicts"] == []


def test_providers_version_is_empty_when_the_executable_fails(fake_bin: Path) -> None:
    broken = fake_bin / "gemini"
    broken.write_text("#!/bin/sh\necho 'no such flag' >&2\nexit 2\n")
    broken.chmod(0o755)

    data = json.loads(invoke("providers", "--json").stdout)

    gemini = next(item for item in data["providers"] if item["name"] == "gemini")
    assert gemini["executable_path"] == str(broken)
    assert gemini["version"] is None


# --- aegis config check / show --------------------------------------------------------

SHOW_CONFIG = """\
from aegis.config import Agent, Approvals
from aegis.notify import Desktop, Webhook
from aegis.queue import Queue
from aegis.workflow import workflow
from aegis_claude.config import ClaudeCode

agents = {
    "main": Agent(
        provider=ClaudeCode(model="opus", env={"ANTHROPIC_API_KEY": "sk-very-secret"}),
        description="does the work",
        approvals=Approvals(deny=["Bash(rm *)"], ask=["execute"], timeout=90),
    ),
    "second": Agent(
        harness="gemini", permission="read", workspace="worktree", orchestrate="any"
    ),
}
default_agent = "main"
queues = [Queue("review", agent_profile="second", max_parallel=3)]
notifications = [
    Desktop(),
    Webhook(url="https://hooks.example.com/T0/hook-token", kinds=["task_failed"]),
    Webhook(url_env="TEAM_HOOK_URL"),
]


@workflow
async def cli_test_flow(engine):
    return "done"
"""


def test_config_check_accepts_a_valid_config_and_summarises_it(
    write_config: Callable[[str], Path], fake_bin: Path
) -> None:
    path = write_config(SHOW_CONFIG)
    write_fake_executable(fake_bin, "claude", "2.1.3")

    result = invoke("config", "check")

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"ok: {path.resolve()}: 2 agent(s) (default: main), 1 queue(s), 1 workflow(s)\n"
    )
    # gemini is not on PATH: a warning, not an error
    assert "warning: agent 'second': 'gemini' is not on PATH" in result.stderr
    assert "main" not in result.stderr


def test_config_option_points_at_another_file(tmp_path: Path, project: Path) -> None:
    other = tmp_path / "elsewhere" / "team.py"
    other.parent.mkdir()
    other.write_text(SHOW_CONFIG)

    result = invoke("--config", str(other), "config", "check")

    assert result.exit_code == 0, result.output
    assert str(other.resolve()) in result.stdout


def test_config_show_json_has_validated_profiles_with_env_values_masked(
    write_config: Callable[[str], Path],
) -> None:
    path = write_config(SHOW_CONFIG)

    result = invoke("config", "show", "--json")

    assert result.exit_code == 0, result.output
    assert "sk-very-secret" not in result.output
    data = json.loads(result.stdout)
    assert data["path"] == str(path.resolve())
    assert data["default_agent"] == "main"
    assert data["queues"] == [
        {"name": "review", "agent_profile": "second", "max_parallel": 3, "warm": 0, "budget": None}
    ]
    assert data["limits"] == {"daily": None, "workflow_run": None, "workflows": {}, "providers": {}}
    assert data["workflows"] == ["cli_test_flow"]
    assert data["notifications"] == [
        "desktop",
        "webhook https://hooks.example.com/…; kinds: task_failed",
        "webhook (URL from $TEAM_HOOK_URL)",
    ]
    assert "hook-token" not in result.output
    main = data["agents"]["main"]
    assert main["harness"] == "claude-code"
    assert main["description"] == "does the work"
    assert main["provider"]["class"] == "ClaudeCode"
    assert main["provider"]["model"] == "opus"
    assert main["provider"]["env"] == {"ANTHROPIC_API_KEY": "***"}
    assert main["approvals"] == {
        "allow": [],
        "deny": ["Bash(rm *)"],
        "ask": ["execute"],
        "timeout": 90.0,
    }
    assert (main["workspace"], main["workspace_base"], main["orchestrate"]) == (
        "project",
        None,
        "own",
    )
    assert (data["agents"]["second"]["workspace"], data["agents"]["second"]["orchestrate"]) == (
        "worktree",
        "any",
    )
    second = data["agents"]["second"]["provider"]
    assert (second["class"], second["permission"]) == ("GeminiCLI", "read")
    assert "effort" not in second


def test_config_show_text_lists_agents_queues_workflows_with_env_masked(
    write_config: Callable[[str], Path],
) -> None:
    write_config(SHOW_CONFIG)

    result = invoke("config", "show")

    assert result.exit_code == 0, result.output
    assert "sk-very-secret" not in result.output
    lines = result.stdout.splitlines()
    main = next(line for line in lines if line.startswith("  main (default): claude-code"))
    assert "model=opus" in main
    assert "'ANTHROPIC_API_KEY': '***'" in main
    assert any(line.startswith("  second: gemini [permission=read") for line in lines)
    assert "      approvals: deny Bash(rm *); ask execute (timeout 90 s)" in lines
    second = lines.index(next(line for line in lines if line.startswith("  second: gemini")))
    assert lines[second + 1 : second + 3] == ["      workspace: worktree", "      orchestrate: any"]
    assert "  review: agent second, max_parallel=3" in lines
    assert "  cli_test_flow" in lines
    assert lines[lines.index("notifications:") + 1] == "  desktop"


def test_config_show_reports_bad_config_like_check(project: Path) -> None:
    result = invoke("config", "show", "--json")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "no .aegis.py found" in result.stderr


# --- aegis init -----------------------------------------------------------------------


def test_init_writes_profiles_for_the_clis_on_path_that_pass_config_check(
    project: Path, fake_bin: Path
) -> None:
    write_fake_executable(fake_bin, "claude", "2.1.3 (Claude Code)")
    write_fake_executable(fake_bin, "gemini", "0.20.0")

    result = invoke("init")

    assert result.exit_code == 0, result.output
    assert "wrote .aegis.py" in result.stdout
    check = invoke("config", "check")
    assert check.exit_code == 0, check.output
    assert "3 agent(s) (default: claude), 1 queue(s), 1 workflow(s)" in check.stdout
    agents, default = load_config()
    assert default == "claude"
    assert list(agents) == ["claude", "gemini", "offline"]
    assert isinstance(agents["claude"].provider, ClaudeCode)
    assert isinstance(agents["gemini"].provider, GeminiCLI)
    assert agents["offline"].harness == "scripted"
    assert "opencode" not in (project / ".aegis.py").read_text().split("agents = {")[1]


def test_init_without_harness_clis_defaults_to_the_offline_agent(
    project: Path, fake_bin: Path
) -> None:
    assert invoke("init").exit_code == 0

    agents, default = load_config()

    assert default == "offline"
    assert list(agents) == ["offline"]


def test_init_refuses_to_overwrite_without_force(project: Path, fake_bin: Path) -> None:
    existing = project / ".aegis.py"
    existing.write_text("# mine\n")

    refused = invoke("init")

    assert refused.exit_code == 1
    assert refused.stderr.splitlines() == [
        "error: .aegis.py already exists",
        "  hint: use --force to overwrite it",
    ]
    assert existing.read_text() == "# mine\n"

    forced = invoke("init", "--force")

    assert forced.exit_code == 0, forced.output
    assert "agents = {" in existing.read_text()


def test_init_path_option_writes_in_that_folder(
    tmp_path: Path, project: Path, fake_bin: Path
) -> None:
    target = tmp_path / "new-project"

    result = invoke("init", "--path", str(target))

    assert result.exit_code == 0, result.output
    assert (target / ".aegis.py").is_file()
    assert not (project / ".aegis.py").exists()


# --- one voice for errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "error", "hint"),
    [
        (("queue", "enqueue"), "error: missing argument 'QUEUE'", "usage: aegis queue enqueue"),
        (("--bogus",), "error: no such option '--bogus'", "usage: aegis [OPTIONS]"),
        (("nosuch",), "error: no such command 'nosuch'", "(more: `aegis --help`)"),
        (("queue", "tasks", "--limit", "x"), "error: invalid value for '--limit'", "usage:"),
    ],
)
def test_click_usage_errors_speak_like_aegis_errors(
    project: Path, args: tuple[str, ...], error: str, hint: str
) -> None:
    result = invoke(*args)

    assert result.exit_code == 2
    first, second = result.stderr.splitlines()
    assert first.startswith(error)
    assert second.startswith("  hint: ") and hint in second
    assert "Error:" not in result.output and "Usage:" not in result.output


def test_an_aegis_error_has_its_hint_on_a_line_of_its_own(
    write_config: Callable[[str], Path],
) -> None:
    write_config(SHOW_CONFIG)

    result = invoke("queue", "enqueue", "nope", "x")

    assert result.exit_code == 1
    assert result.stderr.splitlines() == ["error: no queue 'nope'", "  hint: queues: review"]


# --- config check: the nearest name, the places searched ----------------------------------

SLIP_CONFIG = """
from aegis.builtins.scripted import Scripted
from aegis.config import Agent
from aegis.queue import Queue

agents = {"offline": Agent(provider=Scripted())}
default_agent = "offline"
queues = [Queue("work", agent_profile="offline", max_paralel=2)]
"""


def test_config_check_suggests_the_keyword_meant_for_a_misspelled_one(
    write_config: Callable[[str], Path],
) -> None:
    path = write_config(SLIP_CONFIG)

    result = invoke("config", "check")

    assert result.exit_code == 1
    error, hint = result.stderr.splitlines()
    assert error.startswith(f"error: {path}:8: ")
    assert "unexpected keyword argument 'max_paralel'" in error
    assert (
        hint
        == "  hint: did you mean 'max_parallel'? Queue takes: name, agent_profile, max_parallel, "
        "warm, workspace, budget"
    )


def test_config_check_suggests_the_top_level_name_meant_for_a_misspelled_one(
    write_config: Callable[[str], Path],
) -> None:
    path = write_config(
        SLIP_CONFIG.replace("queues =", "queus =").replace("max_paralel", "max_parallel")
    )

    result = invoke("config", "check")

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {path}:8: `queus` is not a name aegis reads",
        "  hint: did you mean `queues`?",
    ]


def test_without_a_configuration_the_error_lists_every_place_searched(
    project: Path, home: Path
) -> None:
    deeper = project / "a" / "b"
    deeper.mkdir(parents=True)

    done = run_aegis("config", "check", cwd=deeper, env=clean_env(home=home))

    assert done.returncode == 1
    folders = [deeper, deeper.parent, project, *project.parents]
    places = ", ".join(str(folder.resolve()) for folder in folders)
    assert done.stderr.splitlines()[0] == (
        f"error: no .aegis.py found (looked in: {places}, then {home / '.aegis.py'})"
    )
    assert "Traceback" not in done.stderr
