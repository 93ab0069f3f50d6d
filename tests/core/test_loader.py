"""Finding and loading ``.aegis.py``: agents, default_agent, queues and workflows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from aegis.config import Agent, find_project_root, load_config
from aegis.config.loader import load_project
from aegis.queue import Queue
from aegis.workflow import get_workflow, list_workflows
from aegis_claude.config import ClaudeCode
from aegis_gemini.config import GeminiCLI

FULL_CONFIG = """\
from pathlib import Path

from aegis.config import Agent, ClaudeCode
from aegis.queue import Queue
from aegis.workflow import workflow

# A side effect, to count how often this file runs.
counter = Path(__file__).with_name("runs.txt")
counter.write_text(counter.read_text() + "x" if counter.exists() else "x")

agents = {
    "main": Agent(provider=ClaudeCode(model="opus", effort="high")),
    "reviewer": Agent(harness="gemini", model="gemini-3.1-pro", permission="read"),
}
default_agent = "main"
queues = [Queue("review", agent_profile="reviewer", max_parallel=2)]


@workflow
async def loader_test_review(engine, branch: str = "main") -> str:
    return await engine.delegate("review", branch)
"""


def runs(folder: Path) -> int:
    counter = folder / "runs.txt"
    return len(counter.read_text()) if counter.exists() else 0


def test_load_config_returns_agents_and_default_agent(
    write_config: Callable[[str], Path],
) -> None:
    write_config(FULL_CONFIG)

    agents, default = load_config()

    assert default == "main"
    assert list(agents) == ["main", "reviewer"]
    assert agents["main"] == Agent(harness="claude-code", model="opus", effort="high")
    assert isinstance(agents["reviewer"].provider, GeminiCLI)
    assert agents["reviewer"].provider.approval_mode == "plan"


def test_load_executes_the_file_exactly_once(
    write_config: Callable[[str], Path], project: Path
) -> None:
    write_config(FULL_CONFIG)

    load_config()
    assert runs(project) == 1
    load_project()
    assert runs(project) == 2


def test_load_project_collects_queues_and_workflows(
    write_config: Callable[[str], Path], project: Path
) -> None:
    path = write_config(FULL_CONFIG)

    loaded = load_project()

    assert loaded.path == path.resolve()
    assert loaded.root == project.resolve()
    assert loaded.state_dir == project.resolve() / ".aegis"
    assert loaded.queues == {"review": Queue("review", "reviewer", 2)}
    assert list(loaded.workflows) == ["loader_test_review"]
    assert get_workflow("loader_test_review") is loaded.workflows["loader_test_review"]
    assert "loader_test_review" in list_workflows()


def test_queues_and_workflows_are_optional(write_config: Callable[[str], Path]) -> None:
    write_config(
        "from aegis.config import Agent\n"
        "agents = {'solo': Agent(harness='scripted')}\n"
        "default_agent = 'solo'\n"
    )

    loaded = load_project()

    assert loaded.queues == {}
    assert loaded.workflows == {}


def test_config_can_import_a_helper_module_beside_it(
    write_config: Callable[[str], Path], project: Path
) -> None:
    (project / "aegis_test_helper_profiles.py").write_text(
        "from aegis.config import Agent\nSHARED = Agent(harness='gemini')\n"
    )
    write_config(
        "from aegis_test_helper_profiles import SHARED\n"
        "agents = {'g': SHARED}\n"
        "default_agent = 'g'\n"
    )

    agents, _ = load_config()

    assert agents["g"].harness == "gemini"


# --- where .aegis.py is found ---------------------------------------------------------


def test_find_project_root_is_the_closest_ancestor_with_aegis_py(tmp_path: Path) -> None:
    outer, inner = tmp_path / "outer", tmp_path / "outer" / "inner"
    deep = inner / "src" / "pkg"
    deep.mkdir(parents=True)
    (outer / ".aegis.py").write_text("")
    (inner / ".aegis.py").write_text("")

    assert find_project_root(deep) == inner
    assert find_project_root(inner) == inner
    assert find_project_root(outer) == outer


def test_find_project_root_defaults_to_the_current_directory(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / ".aegis.py").write_text("")
    sub = project / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)

    assert find_project_root() == project.resolve()


def test_find_project_root_is_none_without_aegis_py(tmp_path: Path) -> None:
    assert find_project_root(tmp_path) is None


def test_a_folder_named_aegis_py_is_not_a_project(tmp_path: Path) -> None:
    (tmp_path / ".aegis.py").mkdir()

    assert find_project_root(tmp_path) is None


def test_load_config_from_a_subfolder_finds_the_project_file(
    write_config: Callable[[str], Path], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(FULL_CONFIG)
    sub = project / "src"
    sub.mkdir()
    monkeypatch.chdir(sub)

    _, default = load_config()

    assert default == "main"


def test_home_aegis_py_is_the_fallback(project: Path, home: Path) -> None:
    (home / ".aegis.py").write_text(
        "from aegis.config import Agent\n"
        "agents = {'from-home': Agent(harness='gemini')}\n"
        "default_agent = 'from-home'\n"
    )

    agents, default = load_config()

    assert default == "from-home"
    assert list(agents) == ["from-home"]


def test_project_file_wins_over_home_file(write_config: Callable[[str], Path], home: Path) -> None:
    (home / ".aegis.py").write_text("raise RuntimeError('the home file must not run')\n")
    write_config(FULL_CONFIG)

    _, default = load_config()

    assert default == "main"


def test_explicit_search_paths_take_files_and_folders_in_order(
    tmp_path: Path, project: Path
) -> None:
    config = (
        "from aegis.config import Agent\n"
        "agents = {{'{name}': Agent(harness='scripted')}}\n"
        "default_agent = '{name}'\n"
    )
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (second / ".aegis.py").write_text(config.format(name="second"))
    custom = first / "team.py"
    custom.write_text(config.format(name="custom"))

    assert load_config([first, second])[1] == "second"
    assert load_config([custom, second])[1] == "custom"
    assert load_config([tmp_path / "missing", second])[1] == "second"


def test_provider_object_from_the_provider_package_works_in_the_file(
    write_config: Callable[[str], Path],
) -> None:
    write_config(
        "from aegis.config import Agent\n"
        "from aegis_claude.config import ClaudeCode\n"
        "agents = {'c': Agent(provider=ClaudeCode(model='sonnet', permission='full'))}\n"
        "default_agent = 'c'\n"
    )

    agents, _ = load_config()

    assert agents["c"].provider == ClaudeCode(model="sonnet", permission="full")
    assert agents["c"].provider.permission_mode == "bypassPermissions"
