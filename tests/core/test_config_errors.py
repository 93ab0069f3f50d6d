"""Bad configuration: always a ConfigError saying where, what and what to do; never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from aegis.cli import cli
from aegis.config import ConfigError, load_config
from tests.fixtures.fakes import clean_env, run_aegis

HEAD = "from aegis.config import Agent, GeminiCLI\nfrom aegis.queue import Queue\n"
"""Lines 1-2 of every case below, so that line numbers are easy to read off."""


@dataclass(frozen=True)
class Case:
    id: str
    source: str | None
    """The text of .aegis.py after HEAD (None: no .aegis.py at all)."""
    message: str
    hint: str
    line: int | None = None
    profile: str | None = None
    field: str | None = None


CASES = [
    Case(
        "no-config-found",
        None,
        message="no .aegis.py found",
        hint="aegis init",
    ),
    Case(
        "syntax-error",
        "agents = {\n    'a': Agent(harness='gemini')\n\ndefault_agent = 'a'\n",
        message="syntax error",
        hint="line ",
        line=3,
    ),
    Case(
        "exception-while-executing",
        "import json\nsettings = json.loads('{not json')\n",
        message="JSONDecodeError while executing it",
        hint="json.loads",
        line=4,
    ),
    Case(
        "agents-missing",
        "default_agent = 'a'\n",
        message="it defines no `agents`",
        hint="agents = {",
    ),
    Case(
        "agents-misspelled",
        "agent = {'a': Agent(harness='gemini')}\ndefault_agent = 'a'\n",
        message="it defines no `agents`",
        hint="did you mean `agents = ...` instead of `agent = ...`?",
    ),
    Case(
        "agents-empty",
        "agents = {}\ndefault_agent = 'a'\n",
        message="`agents` is empty",
        hint="at least one agent",
        line=3,
    ),
    Case(
        "agents-not-a-dict",
        "agents = [Agent(harness='gemini')]\ndefault_agent = 'a'\n",
        message="`agents` must be a dict of name -> Agent, not list",
        hint="agents = {",
        line=3,
    ),
    Case(
        "entry-not-an-agent",
        "agents = {\n    'ok': Agent(harness='gemini'),\n    'raw': {'harness': 'gemini'},\n}\n"
        "default_agent = 'ok'\n",
        message="is a dict, not an Agent",
        hint="Agent(provider=...)",
        line=5,
        profile="raw",
    ),
    Case(
        "unknown-harness",
        "agents = {\n    'a': Agent(harness='gemini'),\n    'b': Agent(harness='codex'),\n}\n",
        message="unknown provider 'codex' (installed: claude-code, example, gemini, opencode, "
        "scripted)",
        hint="aegis providers",
        line=5,
        profile="b",
        field="harness",
    ),
    Case(
        "flat-field-the-provider-lacks",
        "agents = {\n    'g': Agent(\n        harness='gemini',\n        effort='high',\n"
        "    ),\n}\n",
        message="gemini has no field 'effort'; only ClaudeCode has it",
        hint="its fields are: model, permission",
        line=4,
        profile="g",
        field="effort",
    ),
    Case(
        "provider-object-field-it-lacks",
        "agents = {\n    'g': Agent(provider=GeminiCLI(model='gemini-3-pro', effort='high')),\n}\n",
        message="gemini has no field 'effort'; only ClaudeCode has it",
        hint="its fields are: model, permission",
        line=4,
        profile="g",
        field="effort",
    ),
    Case(
        "approvals-field-it-lacks",
        "from aegis.config import Approvals\n"
        "agents = {'g': Agent(harness='gemini', approvals=Approvals(alow=['Bash']))}\n",
        message="Approvals has no field 'alow'",
        hint="did you mean 'allow'? its fields are: allow, deny, ask, timeout",
        line=4,
        profile="g",
        field="alow",
    ),
    Case(
        "bad-enum-value",
        "agents = {'c': Agent(harness='claude-code', permission='sudo')}\n",
        message="'sudo' is not a valid permission",
        hint="allowed values: 'read', 'write', 'full' or 'auto'",
        line=3,
        profile="c",
        field="permission",
    ),
    Case(
        "opencode-model-without-provider",
        "agents = {'o': Agent(harness='opencode', model='gpt-5')}\n",
        message="provider/model",
        hint="OpenCode.model",
        line=3,
        profile="o",
        field="model",
    ),
    Case(
        "default-agent-missing",
        "agents = {'a': Agent(harness='gemini'), 'b': Agent(harness='gemini')}\n",
        message="it defines no `default_agent`",
        hint="default_agent = 'a' (agents: a, b)",
    ),
    Case(
        "default-agent-not-an-agent",
        "agents = {'a': Agent(harness='gemini')}\n\ndefault_agent = 'z'\n",
        message="default_agent = 'z' is not one of the agents",
        hint="agents: a",
        line=5,
        field="default_agent",
    ),
    Case(
        "queue-names-unknown-profile",
        "agents = {'a': Agent(harness='gemini')}\ndefault_agent = 'a'\n"
        "queues = [Queue('review', agent_profile='reviewer', max_parallel=1)]\n",
        message="queue 'review' names agent 'reviewer', which is not among the agents",
        hint="agents: a",
        line=5,
        field="agent_profile",
    ),
    Case(
        "agent-name-traversal",
        "agents = {\n    '../evil': Agent(harness='gemini'),\n}\ndefault_agent = '../evil'\n",
        message="agent name '../evil' is not valid",
        hint="letters, digits",
        line=4,
    ),
    Case(
        "agent-name-emoji",
        "agents = {'a': Agent(harness='gemini'), '\U0001f600': Agent(harness='gemini')}\n"
        "default_agent = 'a'\n",
        message="agent name '\U0001f600' is not valid",
        hint="letters, digits",
        line=3,
    ),
    Case(
        "max-parallel-below-one",
        "agents = {'a': Agent(harness='gemini')}\ndefault_agent = 'a'\n"
        "queues = [\n    Queue('review', agent_profile='a', max_parallel=0),\n]\n",
        message="max_parallel must be a whole number of at least 1, not 0",
        hint="at once",
        line=6,
        field="max_parallel",
    ),
    Case(
        "warm-beyond-max-parallel",
        "agents = {'a': Agent(harness='gemini')}\ndefault_agent = 'a'\n"
        "queues = [\n    Queue('review', agent_profile='a', max_parallel=1, warm=2),\n]\n",
        message="queue 'review': warm=2 is more than max_parallel=1",
        hint="use warm=1 at most, or raise max_parallel",
        line=6,
        field="warm",
    ),
    Case(
        "duplicate-queue-names",
        "agents = {'a': Agent(harness='gemini')}\ndefault_agent = 'a'\n"
        "queues = [Queue('q', 'a', 1), Queue('q', 'a', 2)]\n",
        message="two queues are named 'q'",
        hint="unique",
        line=5,
    ),
    Case(
        "queues-not-a-list",
        "agents = {'a': Agent(harness='gemini')}\ndefault_agent = 'a'\n"
        "queues = Queue('q', 'a', 1)\n",
        message="`queues` must be a list of Queue",
        hint="queues = [Queue(",
        line=5,
    ),
]


@pytest.fixture(params=CASES, ids=[case.id for case in CASES])
def case(request: pytest.FixtureRequest, write_config: Callable[[str], Path]) -> Case:
    case: Case = request.param
    if case.source is not None:
        write_config(HEAD + case.source)
    return case


def test_bad_config_raises_config_error_naming_place_problem_and_hint(
    case: Case, project: Path
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config()

    error = caught.value
    assert case.message in error.message
    assert error.hint is not None
    assert case.hint in error.hint
    assert (error.line, error.profile, error.field) == (case.line, case.profile, case.field)
    if case.source is not None:
        assert error.path == str((project / ".aegis.py").resolve())
        assert str(error).startswith(error.where() + ": ")
        if case.line is not None:
            assert f".aegis.py:{case.line}: " in str(error)
        if case.profile is not None:
            assert f"agent {case.profile!r}" in str(error)


def test_config_check_reports_bad_config_on_stderr_with_exit_status_1(case: Case) -> None:
    result = CliRunner().invoke(cli, ["config", "check"])

    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert case.message in result.stderr
    assert case.hint in result.stderr.partition("\n  hint: ")[2]
    assert "Traceback" not in result.output


def test_no_config_error_lists_where_it_looked(project: Path, home: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config()

    assert str(home / ".aegis.py") in caught.value.message


def test_missing_agents_hint_does_not_take_the_agent_class_for_a_typo(
    write_config: Callable[[str], Path],
) -> None:
    write_config("from aegis.config import Agent\nAgents = 3\n")

    with pytest.raises(ConfigError) as caught:
        load_config()

    assert "instead of" not in (caught.value.hint or "")
    assert "agents = {" in (caught.value.hint or "")


def test_workflow_that_is_not_async_is_reported_at_its_line(
    write_config: Callable[[str], Path],
) -> None:
    write_config(
        "from aegis.workflow import workflow\n\n@workflow\ndef not_async(engine):\n    pass\n"
    )

    with pytest.raises(ConfigError, match="must be an async function") as caught:
        load_config()

    assert caught.value.line == 3


@pytest.mark.parametrize(
    ("source", "line", "fragment"),
    [
        ("agents = {\n  'a': Agent(harness='gemini'\n", 4, "syntax error: '(' was never closed"),
        ("raise RuntimeError('config exploded')\n", 3, "RuntimeError while executing it"),
    ],
    ids=["syntax-error", "exception"],
)
def test_real_aegis_process_reports_bad_config_without_traceback(
    tmp_path: Path, source: str, line: int, fragment: str
) -> None:
    (tmp_path / ".aegis.py").write_text(HEAD + source)

    done = run_aegis("config", "check", cwd=tmp_path, env=clean_env(home=tmp_path))

    assert done.returncode == 1
    assert fragment in done.stderr
    assert f"{tmp_path.resolve() / '.aegis.py'}:{line}: " in done.stderr
    assert "hint: " in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
