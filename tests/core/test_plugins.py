"""Plugins: discovery through the ``aegis`` entry points, AEGIS_PLUGINS, and broken plugins."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import aegis_claude
import aegis_tui
from aegis.cli import cli
from aegis.config import Agent, ConfigError
from aegis.plugins import BUILTIN_PLUGINS, get_host, reset_plugins
from aegis.registry import get_registry
from tests.fixtures.fakes import clean_env, run_aegis, run_python, write_fake_distribution

PROVIDER_PLUGINS = {"claude", "gemini", "opencode", "example"}

# --- a site folder with broken plugins, used by real aegis processes -------------------


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for PYTHONPATH with two broken distributions.

    * ``aegis-broken-thing`` 1.2.3: entry point ``broken``, whose module raises on import.
    * ``aegis-provider-claude`` 9.9.9: found before the real one, so it stands for an
      installed but broken Claude provider (its module imports a missing module).
    """
    site = tmp_path_factory.mktemp("broken-site")
    write_fake_distribution(
        site,
        "aegis-broken-thing",
        "1.2.3",
        entry_points={"broken": "aegis_broken_thing"},
        modules={"aegis_broken_thing": "raise RuntimeError('kaboom at import')\n"},
    )
    write_fake_distribution(
        site,
        "aegis-provider-claude",
        "9.9.9",
        entry_points={"claude": "aegis_claude_broken"},
        modules={"aegis_claude_broken": "import aegis_no_such_dependency\n"},
    )
    return site


def test_plugins_lists_a_plugin_that_fails_to_import_with_its_error(
    broken_site: Path, tmp_path: Path
) -> None:
    env = clean_env(home=tmp_path, pythonpath=broken_site)

    table = run_aegis("plugins", cwd=tmp_path, env=env)
    listed = run_aegis("plugins", "--json", cwd=tmp_path, env=env)

    assert table.returncode == 0, table.stderr
    rows = {line.split()[0]: line.split() for line in table.stdout.splitlines()[1:]}
    assert rows["broken"] == ["broken", "aegis-broken-thing", "1.2.3", "FAILED"]
    assert rows["gemini"][-1] == "register_providers"  # the others still load
    assert "RuntimeError: kaboom at import" in table.stderr
    assert "Traceback" not in table.stderr
    assert listed.returncode == 0, listed.stderr
    by_name = {info["name"]: info for info in json.loads(listed.stdout)}
    assert by_name["broken"]["error"] == "RuntimeError: kaboom at import"
    assert by_name["broken"]["distribution"] == "aegis-broken-thing"
    assert by_name["claude"]["error"] == (
        "ModuleNotFoundError: No module named 'aegis_no_such_dependency'"
    )
    assert by_name["gemini"]["error"] is None


def test_other_commands_keep_working_beside_a_broken_plugin(
    broken_site: Path, tmp_path: Path
) -> None:
    env = clean_env(home=tmp_path, pythonpath=broken_site)
    (tmp_path / ".aegis.py").write_text(
        "from aegis.config import Agent\n"
        "agents = {'g': Agent(harness='gemini')}\n"
        "default_agent = 'g'\n"
    )

    version = run_aegis("--version", cwd=tmp_path, env=env)
    providers = run_aegis("providers", cwd=tmp_path, env=env)
    check = run_aegis("config", "check", cwd=tmp_path, env=env)

    assert version.returncode == 0
    assert providers.returncode == 0, providers.stderr
    names = [line.split()[0] for line in providers.stdout.splitlines()[1:]]
    assert "gemini" in names
    assert "claude-code" not in names
    assert "'claude' (aegis-provider-claude) failed" in providers.stderr
    assert check.returncode == 0, check.stderr


def test_using_a_provider_of_a_broken_plugin_names_distribution_and_import_error(
    broken_site: Path, tmp_path: Path
) -> None:
    env = clean_env(home=tmp_path, pythonpath=broken_site)
    (tmp_path / ".aegis.py").write_text(
        "from aegis.config import Agent\n"
        "agents = {'c': Agent(harness='claude-code', model='opus')}\n"
        "default_agent = 'c'\n"
    )

    check = run_aegis("config", "check", cwd=tmp_path, env=env)
    attribute = run_python(
        "import aegis.config\n"
        "try:\n"
        "    aegis.config.ClaudeCode\n"
        "except aegis.config.ConfigError as exc:\n"
        "    print(exc)\n",
        cwd=tmp_path,
        env=env,
    )

    assert check.returncode == 1
    assert "Traceback" not in check.stderr
    assert ".aegis.py:2: agent 'c', field 'harness': " in check.stderr
    assert "aegis-provider-claude" in check.stderr
    assert "No module named 'aegis_no_such_dependency'" in check.stderr
    assert attribute.returncode == 0, attribute.stderr
    assert "aegis.config.ClaudeCode comes from aegis-provider-claude" in attribute.stdout
    assert "No module named 'aegis_no_such_dependency'" in attribute.stdout


# --- AEGIS_PLUGINS --------------------------------------------------------------------


def test_aegis_plugins_env_restricts_the_plugins_a_process_loads(tmp_path: Path) -> None:
    done = run_aegis(
        "plugins", "--json", cwd=tmp_path, env=clean_env(home=tmp_path, plugins="claude, tui")
    )

    assert done.returncode == 0, done.stderr
    names = [info["name"] for info in json.loads(done.stdout)]
    assert names == [*sorted(BUILTIN_PLUGINS), "claude", "tui"]


def test_empty_aegis_plugins_loads_only_the_builtins(
    only_plugins: Callable[[str], None],
) -> None:
    only_plugins("")

    assert [info.name for info in get_host().infos()] == sorted(BUILTIN_PLUGINS)
    assert get_registry().names() == ["scripted"]


def test_restricting_plugins_restricts_providers(only_plugins: Callable[[str], None]) -> None:
    only_plugins("gemini,example")

    assert sorted(get_registry().names()) == ["example", "gemini", "scripted"]
    with pytest.raises(ConfigError, match="aegis-provider-opencode"):
        Agent(harness="opencode")


# --- aegis plugins --------------------------------------------------------------------


def test_plugins_json_shows_name_distribution_version_and_hooks() -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json"])

    assert result.exit_code == 0, result.output
    by_name = {info["name"]: info for info in json.loads(result.stdout)}
    assert PROVIDER_PLUGINS | {"tui"} <= set(by_name)
    claude = by_name["claude"]
    assert (claude["distribution"], claude["version"]) == (
        "aegis-provider-claude",
        aegis_claude.__version__,
    )
    assert claude["hooks"] == ["register_providers"]
    assert claude["module"] == "aegis_claude.plugin"
    assert claude["error"] is None
    assert by_name["tui"]["hooks"] == ["register_commands"]
    assert by_name["tui"]["version"] == aegis_tui.__version__
    assert by_name["aegis.builtins.scripted"]["builtin"] is True
    assert by_name["aegis.builtins.scripted"]["distribution"] == "aegis-core"


def test_plugins_table_has_a_row_per_plugin() -> None:
    result = CliRunner().invoke(cli, ["plugins"])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "DISTRIBUTION", "VERSION", "HOOKS"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["gemini"][1:] == ["aegis-provider-gemini", "0.1.0", "register_providers"]
    assert result.stderr == ""


# --- plugins that break later than import, in-process ---------------------------------


@pytest.fixture
def extra_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path for fake distributions; the plugins are reloaded around the test."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    reset_plugins()
    yield site
    sys.path.remove(str(site))
    reset_plugins()


def test_plugin_with_a_misspelled_hook_is_reported_not_fatal(extra_site: Path) -> None:
    write_fake_distribution(
        extra_site,
        "aegis-typo",
        "0.3",
        entry_points={"typo": "aegis_test_typo_plugin"},
        modules={
            "aegis_test_typo_plugin": "from aegis import hookimpl\n\n"
            "@hookimpl\ndef register_provider(register):\n    pass\n"
        },
    )
    reset_plugins()

    infos = {info.name: info for info in get_host().infos()}

    assert "unknown hook 'register_provider'" in (infos["typo"].error or "")
    assert infos["typo"].hooks == []
    assert infos["claude"].error is None
    assert "claude-code" in get_registry().names()


def test_plugin_with_a_hook_wrapper_is_reported_not_run_silently(extra_site: Path) -> None:
    write_fake_distribution(
        extra_site,
        "aegis-wrapper",
        "0.1",
        entry_points={"wrapping": "aegis_test_wrapper_plugin"},
        modules={
            "aegis_test_wrapper_plugin": "from aegis import hookimpl\n\n"
            "@hookimpl(wrapper=True)\ndef session_started(session):\n"
            "    return (yield)\n"
        },
    )
    reset_plugins()

    info = get_host().info("wrapping")

    assert info is not None
    assert info.error == "TypeError: hook wrappers are not supported: session_started"
    impls = get_host().manager.hook.session_started.get_hookimpls()
    assert all(impl.plugin_name != "wrapping" for impl in impls)


def test_plugin_whose_register_hook_raises_loses_only_its_own_providers(
    extra_site: Path,
) -> None:
    write_fake_distribution(
        extra_site,
        "aegis-provider-flaky",
        "0.1",
        entry_points={"flaky": "aegis_test_flaky_plugin"},
        modules={
            "aegis_test_flaky_plugin": "from aegis import hookimpl\n\n"
            "@hookimpl\ndef register_providers(register):\n"
            "    import aegis_flaky_missing_driver\n"
        },
    )
    reset_plugins()

    registry = get_registry()

    assert "gemini" in registry.names()
    failure = next(info for info in registry.failures if info.name == "flaky")
    assert failure.error == (
        "register_providers raised ModuleNotFoundError: "
        "No module named 'aegis_flaky_missing_driver'"
    )
    with pytest.raises(ConfigError) as caught:
        Agent(harness="flaky")
    assert "aegis-provider-flaky" in str(caught.value)
    assert "aegis_flaky_missing_driver" in str(caught.value)


def test_registering_something_that_is_not_a_provider_fails_that_plugin(
    extra_site: Path,
) -> None:
    write_fake_distribution(
        extra_site,
        "aegis-odd",
        "0.1",
        entry_points={"odd": "aegis_test_odd_plugin"},
        modules={
            "aegis_test_odd_plugin": "from aegis import hookimpl\n\n"
            "@hookimpl\ndef register_providers(register):\n    register('claude-code')\n"
        },
    )
    reset_plugins()

    registry = get_registry()

    failure = next(info for info in registry.failures if info.name == "odd")
    assert "not an aegis Provider" in (failure.error or "")
    assert "claude-code" in registry.names()


def test_unknown_harness_mentions_plugins_that_failed(extra_site: Path) -> None:
    write_fake_distribution(
        extra_site,
        "aegis-mystery",
        "0.1",
        entry_points={"mystery": "aegis_test_mystery_plugin"},
        modules={"aegis_test_mystery_plugin": "raise ImportError('needs libfoo')\n"},
    )
    reset_plugins()

    with pytest.raises(ConfigError) as caught:
        Agent(harness="codex")

    assert "unknown provider 'codex'" in caught.value.message
    assert "mystery (aegis-mystery): ImportError: needs libfoo" in (caught.value.hint or "")


ECHO_CONFIG = """from typing import ClassVar

from aegis.config import ProviderConfig


class Echo(ProviderConfig):
    harness: ClassVar[str] = "echo-agent"
"""

ECHO_PLUGIN = """from aegis import hookimpl
from aegis.provider import Provider
from aegis_test_echo_config import Echo


class EchoProvider(Provider):
    name = "echo-agent"
    config_class = Echo


@hookimpl
def register_providers(register):
    register(EchoProvider())
"""


def test_config_check_names_the_profile_whose_provider_plugin_is_not_loaded(
    extra_site: Path,
    only_plugins: Callable[[str], None],
    write_config: Callable[[str], Path],
) -> None:
    write_fake_distribution(
        extra_site,
        "aegis-provider-echo",
        "0.1",
        entry_points={"echo": "aegis_test_echo_plugin"},
        modules={"aegis_test_echo_config": ECHO_CONFIG, "aegis_test_echo_plugin": ECHO_PLUGIN},
    )
    path = write_config(
        "from aegis.config import Agent\n"
        "from aegis_test_echo_config import Echo\n"
        "\n"
        "agents = {\n"
        "    'main': Agent(provider=Echo()),\n"
        "}\n"
        "default_agent = 'main'\n"
    )
    only_plugins("claude")

    left_out = CliRunner().invoke(cli, ["config", "check"])
    only_plugins("claude,echo")
    loaded = CliRunner().invoke(cli, ["config", "check"])

    assert left_out.exit_code == 1
    assert left_out.stdout == ""
    assert left_out.stderr.startswith(
        f"error: {path.resolve()}:5: agent 'main': unknown provider 'echo-agent' (installed: "
    )
    hint = left_out.stderr.partition("\n  hint: ")[2]
    assert hint.startswith("AEGIS_PLUGINS='claude' leaves out the installed plugins ")
    assert "echo, " in hint and "add the one that provides 'echo-agent'" in hint
    assert loaded.exit_code == 0, loaded.output
    assert loaded.stdout.startswith(f"ok: {path.resolve()}: 1 agent(s)")
