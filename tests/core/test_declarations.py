"""What ``.aegis.py`` declares besides agents: ``Queue`` and ``@workflow`` functions."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from aegis.cli import cli
from aegis.config import ConfigError
from aegis.plugins import reset_plugins
from aegis.queue import Queue
from aegis.workflow import get_workflow, list_workflows, workflow
from aegis.workflow import registry as workflow_registry
from tests.fixtures.fakes import write_fake_distribution

# --- Queue ----------------------------------------------------------------------------


def test_queue_is_a_frozen_dataclass_of_name_profile_and_max_parallel() -> None:
    queue = Queue("review", "reviewer", 3)

    # API.md's three fields, in order; `warm`, `workspace` and `budget` are later,
    # optional ones.
    fields = [f.name for f in dataclasses.fields(Queue)]
    assert fields == ["name", "agent_profile", "max_parallel", "warm", "workspace", "budget"]
    assert queue == Queue(
        name="review", agent_profile="reviewer", max_parallel=3, warm=0, workspace=None, budget=None
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        queue.max_parallel = 4  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "has space", "agent_profile": "a", "max_parallel": 1}, "name"),
        ({"name": "", "agent_profile": "a", "max_parallel": 1}, "name"),
        ({"name": "q", "agent_profile": "", "max_parallel": 1}, "agent_profile"),
        ({"name": "q", "agent_profile": "a", "max_parallel": 0}, "max_parallel"),
        ({"name": "q", "agent_profile": "a", "max_parallel": -2}, "max_parallel"),
        ({"name": "q", "agent_profile": "a", "max_parallel": 1.5}, "max_parallel"),
        ({"name": "q", "agent_profile": "a", "max_parallel": True}, "max_parallel"),
        ({"name": "q", "agent_profile": "a", "max_parallel": 2, "warm": -1}, "warm"),
        ({"name": "q", "agent_profile": "a", "max_parallel": 2, "warm": 1.0}, "warm"),
        ({"name": "q", "agent_profile": "a", "max_parallel": 2, "warm": True}, "warm"),
        ({"name": "q", "agent_profile": "a", "max_parallel": 2, "warm": 3}, "warm"),
    ],
)
def test_invalid_queue_is_a_config_error_with_field_and_hint(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Queue(**kwargs)  # type: ignore[arg-type]

    assert caught.value.field == field
    assert caught.value.hint


# --- @workflow ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _own_project_workflows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workflows registered by a test here are forgotten after it."""
    monkeypatch.setattr(workflow_registry, "_project", dict(workflow_registry._project))


def test_workflow_decorator_registers_under_the_function_name_and_returns_it() -> None:
    async def decl_test_registered(engine: object) -> str:
        return "ok"

    returned = workflow(decl_test_registered)

    assert returned is decl_test_registered
    assert get_workflow("decl_test_registered") is decl_test_registered
    assert "decl_test_registered" in list_workflows()
    assert list_workflows() == sorted(list_workflows())


def test_workflow_decorator_refuses_a_plain_function() -> None:
    def decl_test_sync(engine: object) -> None:
        return None

    with pytest.raises(TypeError, match="async"):
        workflow(decl_test_sync)  # type: ignore[arg-type]
    assert get_workflow("decl_test_sync") is None


def test_get_workflow_of_an_unknown_name_is_none() -> None:
    assert get_workflow("decl_test_no_such_workflow") is None


@pytest.fixture
def workflow_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A plugin shipping workflow ``decl_test_packaged``, loaded for this test only."""
    site = tmp_path / "site"
    write_fake_distribution(
        site,
        "aegis-test-workflows",
        "0.1",
        entry_points={"testflows": "aegis_test_workflow_plugin"},
        modules={
            "aegis_test_workflow_plugin": "from aegis import hookimpl\n\n"
            "async def decl_test_packaged(engine):\n    return 'packaged'\n\n"
            "@hookimpl\ndef register_workflows(register):\n"
            "    register(decl_test_packaged)\n"
            "    register(decl_test_packaged, name='decl_test_renamed')\n"
        },
    )
    monkeypatch.syspath_prepend(str(site))
    reset_plugins()
    yield
    sys.path.remove(str(site))
    reset_plugins()


@pytest.mark.usefixtures("workflow_plugin")
def test_packaged_workflows_come_from_plugins_under_their_names() -> None:
    packaged = get_workflow("decl_test_packaged")

    assert packaged is not None
    assert packaged.__module__ == "aegis_test_workflow_plugin"
    assert get_workflow("decl_test_renamed") is packaged
    assert {"decl_test_packaged", "decl_test_renamed"} <= set(list_workflows())


def test_packaged_workflows_are_forgotten_when_plugins_reset(
    workflow_plugin: None, only_plugins: Callable[[str], None]
) -> None:
    assert get_workflow("decl_test_packaged") is not None

    only_plugins("claude")

    assert get_workflow("decl_test_packaged") is None


@pytest.mark.usefixtures("workflow_plugin")
def test_project_workflow_takes_precedence_over_a_packaged_one() -> None:
    async def decl_test_renamed(engine: object) -> str:
        return "project"

    workflow(decl_test_renamed)

    assert get_workflow("decl_test_renamed") is decl_test_renamed


def test_config_check_executes_aegis_py_once(
    write_config: Callable[[str], Path], project: Path
) -> None:
    write_config(
        "from pathlib import Path\n"
        "from aegis.config import Agent\n"
        "marker = Path(__file__).with_name('runs.txt')\n"
        "marker.write_text(marker.read_text() + 'x' if marker.exists() else 'x')\n"
        "agents = {'a': Agent(harness='scripted')}\n"
        "default_agent = 'a'\n"
    )

    result = CliRunner().invoke(cli, ["config", "check"])

    assert result.exit_code == 0, result.output
    assert (project / "runs.txt").read_text() == "x"
