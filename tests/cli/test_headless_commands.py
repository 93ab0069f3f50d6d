"""The headless commands, run as a user would: ask, queue and workflow, on the offline agent.

The project of the module has one daemon (the first command that needs it starts it),
stopped at the end; tests of the in-process path (``--no-daemon``) use a project of
their own, which no daemon runs.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.fakes import AEGIS, aegis_in, clean_env
from tests.support.daemons import stop_daemons_under

CONFIG = """
from aegis.builtins.scripted import Scripted, ScriptRule
from aegis.config import Agent, ClaudeCode
from aegis.queue import Queue
from aegis.workflow import WorkflowError, workflow

agents = {
    "offline": Agent(provider=Scripted(rules=[
        ScriptRule(match="^hello$", reply="hi there"),
        ScriptRule(match="^slow", reply="late", delay=60),
    ])),
    "missing": Agent(provider=ClaudeCode(executable="/nonexistent/claude")),
}
default_agent = "offline"
queues = [Queue("work", agent_profile="offline", max_parallel=1)]


@workflow
async def greet(engine, who: str, times: int = 1) -> str:
    handle = await engine.spawn("offline")
    return " / ".join([await engine.ask(handle, "hello") for _ in range(times)]) + f" {who}"


@workflow
async def report(engine, title: str, lines: int = 2) -> str:
    return "\\n".join([title] + [f"line {i}" for i in range(1, lines + 1)])


@workflow
async def refuse(engine) -> None:
    raise WorkflowError("not today")


@workflow
async def crash(engine) -> None:
    1 / 0
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("project")
    (root / ".aegis.py").write_text(CONFIG)
    yield root
    stop_daemons_under(root)


@pytest.fixture
def quiet_project(tmp_path: Path) -> Path:
    """A project no daemon runs (its tests use ``--no-daemon``)."""
    (tmp_path / ".aegis.py").write_text(CONFIG)
    return tmp_path


def aegis(project: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return aegis_in(project, *args, timeout=timeout)


def test_ask_json_prints_canonical_events_as_json_lines(project: Path) -> None:
    done = aegis(project, "ask", "offline", "hello", "--json")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    types = [event["type"] for event in events]
    assert types[0] == "session_started"
    assert "text_delta" in types
    [end] = [event for event in events if event["type"] == "turn_end"]
    assert end["text"] == "hi there"
    assert end["stop_reason"] == "end_turn"
    assert {event["handle"] for event in events} == {events[0]["handle"]}


def test_ask_exits_1_and_names_the_package_when_the_cli_is_missing(project: Path) -> None:
    done = aegis(project, "ask", "missing", "hello")
    assert done.returncode == 1
    assert "npm install -g @anthropic-ai/claude-code" in done.stderr
    assert "Traceback" not in done.stderr


def test_queue_enqueue_wait_runs_the_task_and_show_lists_it(project: Path) -> None:
    done = aegis(project, "queue", "enqueue", "work", "hello", "--wait", "--json")
    assert done.returncode == 0, done.stderr
    task = json.loads(done.stdout)
    assert (task["status"], task["result"], task["sender"]) == ("done", "hi there", "user")
    shown = aegis(project, "queue", "show", task["id"])
    assert shown.returncode == 0, shown.stderr
    assert "hi there" in shown.stdout
    listed = json.loads(aegis(project, "queue", "list", "--json").stdout)
    assert [(q["name"], q["agent_profile"]) for q in listed] == [("work", "offline")]
    assert listed[0]["done"] >= 1


def test_queue_cancel_and_retry_from_the_command_line(quiet_project: Path) -> None:
    def queue(*args: str) -> subprocess.CompletedProcess[str]:
        return aegis(quiet_project, "--no-daemon", "queue", *args)

    queued = queue("enqueue", "work", "hello")
    task_id = queued.stdout.strip()
    assert queued.returncode == 0, queued.stderr
    cancelled = queue("cancel", task_id)
    assert cancelled.stdout.strip() == f"{task_id}: cancelled"
    retried = queue("retry", task_id)
    assert retried.returncode == 0, retried.stderr
    new_id = retried.stdout.strip()
    assert new_id > task_id  # ids sort by creation
    shown = json.loads(queue("show", new_id, "--json").stdout)
    assert (shown["retry_of"], shown["attempt"], shown["status"]) == (task_id, 2, "queued")
    refused = queue("retry", new_id)
    assert refused.returncode == 1
    assert "only failed or cancelled tasks are retried" in refused.stderr
    unknown = queue("enqueue", "nope", "x")
    assert unknown.returncode == 1
    assert unknown.stderr.splitlines() == ["error: no queue 'nope'", "  hint: queues: work"]


def test_queue_cancel_and_retry_go_through_the_daemon(project: Path) -> None:
    queued = aegis(project, "queue", "enqueue", "work", "slow")
    assert queued.returncode == 0, queued.stderr
    task_id = queued.stdout.strip()
    cancelled = aegis(project, "queue", "cancel", task_id)
    assert cancelled.stdout.strip() == f"{task_id}: cancelled"
    retried = aegis(project, "queue", "retry", task_id)
    assert retried.returncode == 0, retried.stderr
    new_id = retried.stdout.strip()
    shown = json.loads(aegis(project, "queue", "show", new_id, "--json").stdout)
    assert (shown["retry_of"], shown["attempt"]) == (task_id, 2)
    assert shown["status"] in ("queued", "running")  # the daemon runs it
    refused = aegis(project, "queue", "retry", new_id)
    assert refused.returncode == 1
    error, hint = refused.stderr.splitlines()
    assert error.startswith(f"error: task {new_id} is ")
    assert error.endswith("only failed or cancelled tasks are retried")
    assert hint == "  hint: `aegis queue tasks` lists the tasks"
    assert aegis(project, "queue", "cancel", new_id).stdout.strip() == f"{new_id}: cancelled"


def test_workflow_run_exit_codes_and_records(project: Path) -> None:
    listed = aegis(project, "workflow", "list")
    assert {"greet", "refuse", "crash", "branch_review", "tdd_loop"} <= {
        line.split()[0] for line in listed.stdout.splitlines()[1:]
    }
    ok = aegis(project, "workflow", "run", "greet", "--arg", "who=Ada", "--arg", "times=2")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "hi there / hi there Ada"
    assert "→ hi there" in ok.stderr  # live progress of the session
    failed = aegis(project, "workflow", "run", "refuse")
    assert failed.returncode == 1
    assert "failed: not today" in failed.stderr
    bad_arg = aegis(project, "workflow", "run", "greet", "--arg", "times=many")
    assert bad_arg.returncode == 1
    assert "argument 'times': 'many' is not a valid int" in bad_arg.stderr
    crashed = aegis(project, "workflow", "run", "crash")
    assert crashed.returncode == 2
    assert "ZeroDivisionError" in crashed.stderr
    runs = json.loads(aegis(project, "workflow", "runs", "--json").stdout)
    by_workflow = {run["workflow"]: run for run in runs}
    assert by_workflow["refuse"]["status"] == "failed"
    shown = aegis(project, "workflow", "show", by_workflow["refuse"]["id"])
    assert "not today" in shown.stdout
    crash_record = aegis(project, "workflow", "show", by_workflow["crash"]["id"]).stdout
    assert "traceback:" in crash_record
    assert "1 / 0" in crash_record


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ask", "nosuch", "hi"), "no agent profile 'nosuch'"),
        (("chat", "nosuch"), "no agent profile 'nosuch'"),
        (("queue", "show", "nosuch"), "no task 'nosuch'"),
        (("queue", "cancel", "nosuch"), "no task 'nosuch'"),
        (("queue", "retry", "nosuch"), "no task 'nosuch'"),
        (
            ("workflow", "run", "nosuch"),
            "no workflow 'nosuch' (workflows: best_of_n, branch_review, crash",
        ),
        (("queue", "enqueue", "work", "slow", "--wait", "--timeout", "0.5"), "did not end within"),
    ],
)
def test_a_mistake_is_one_clear_line_not_a_traceback(
    project: Path, args: tuple[str, ...], message: str
) -> None:
    result = aegis(project, *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    if "--timeout" in args:  # the task goes on in the daemon: it would hold the queue
        task_id = result.stderr.split()[0]
        assert aegis(project, "queue", "cancel", task_id).returncode == 0


CHAT_CONFIG = """
from aegis.builtins.scripted import Scripted, ScriptedToolCall, ScriptRule
from aegis.config import Agent
from aegis.queue import Queue

agents = {
    "lead": Agent(provider=Scripted(rules=[
        ScriptRule(
            match="^delegate (.+)$",
            tool_calls=(ScriptedToolCall(
                tool="mcp:aegis/aegis_enqueue", input={"queue": "work", "payload": "{1}"}
            ),),
            reply="enqueued: {output}",
        ),
        ScriptRule(match="^Task .* on queue 'work': ok", reply="got the result"),
    ])),
    "worker": Agent(provider=Scripted(rules=[ScriptRule(match="sum", reply="it is 4")])),
}
default_agent = "lead"
queues = [Queue("work", agent_profile="worker", max_parallel=1)]
"""


@pytest.mark.timeout(90)
def test_chat_runs_the_plane_and_shows_a_queue_callback_with_its_sender(
    tmp_path: Path,
) -> None:
    (tmp_path / ".aegis.py").write_text(CHAT_CONFIG)
    chat = subprocess.Popen(
        [str(AEGIS), "chat"],
        cwd=tmp_path,
        env=clean_env(home=tmp_path),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert chat.stdin is not None and chat.stdout is not None
    seen: list[str] = []
    try:
        chat.stdin.write("delegate the sum of 2 and 2\n")
        chat.stdin.flush()
        for line in chat.stdout:  # pytest-timeout ends this if the callback never comes
            seen.append(line)
            if line.startswith("got the result"):
                break
        chat.stdin.close()
        assert chat.wait(timeout=30) == 0
    finally:
        if chat.poll() is None:
            chat.kill()
            chat.wait()
    text = "".join(seen)
    assert "aegis_enqueue" in text  # the agent called the plane's tool
    assert "enqueued: " in text
    assert "[queue:work]" in text and "it is 4" in text  # the callback, tagged
    assert "worker" not in text.split("[queue:work]")[0]  # no worker events in chat


def test_workflow_show_last_prints_arguments_as_key_value_and_indents_the_result(
    project: Path,
) -> None:
    ran = aegis(project, "workflow", "run", "report", "--arg", "title=Report", "--arg", "lines=2")
    assert ran.returncode == 0, ran.stderr
    shown = aegis(project, "workflow", "show", "last")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].endswith(": report ok")
    assert "  arguments: title=Report lines=2" in lines
    at = lines.index("  result:    Report")
    assert lines[at + 1 : at + 3] == ["             line 1", "             line 2"]
    run_id = lines[0].split(":")[0]
    assert aegis(project, "workflow", "show", run_id).stdout == shown.stdout


def test_queue_enqueue_says_that_nothing_runs_the_task_until_a_queue_runner_starts(
    quiet_project: Path,
) -> None:
    project = quiet_project
    queued = aegis(project, "--no-daemon", "queue", "enqueue", "work", "hello")
    assert queued.returncode == 0, queued.stderr
    task_id = queued.stdout.strip()
    assert queued.stderr.startswith(f"queued as {task_id}; it runs when `aegis serve`")
    assert "none is now" in queued.stderr
    serve = subprocess.Popen(
        [str(AEGIS), "serve"],
        cwd=project,
        env=clean_env(home=project),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        runners = project / ".aegis" / "runners"
        while not (runners.is_dir() and any(runners.iterdir())):  # pytest-timeout bounds it
            assert serve.poll() is None, serve.stderr and serve.stderr.read()
            time.sleep(0.1)
        second = aegis(project, "--no-daemon", "queue", "enqueue", "work", "hello")
        assert f"the aegis running this project's queues (pid {serve.pid}) will run it" in (
            second.stderr
        )
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
    assert not any(runners.iterdir())  # it said goodbye


@pytest.mark.parametrize(
    ("limit", "shown"), [("99999999999999999999", None), ("1", 1), ("-5", "error")]
)
def test_limit_is_a_positive_count_and_a_huge_one_means_all(
    project: Path, limit: str, shown: int | str | None
) -> None:
    for _ in range(2):
        aegis(project, "queue", "enqueue", "work", "hello")
    for command in (("queue", "tasks"), ("workflow", "runs")):
        done = aegis(project, *command, "--limit", limit, "--json")
        assert "Traceback" not in done.stderr
        if shown == "error":
            assert done.returncode == 2
            assert done.stderr.startswith(f"error: invalid value for '--limit': {limit} is not")
            continue
        assert done.returncode == 0, done.stderr
        count = len(json.loads(done.stdout))
        assert count == shown if shown is not None else count >= 2


def test_queue_enqueue_refuses_an_empty_payload_as_ask_refuses_an_empty_message(
    project: Path,
) -> None:
    for args, what in (
        (("queue", "enqueue", "work", "  "), "payload"),
        (("ask", "offline", ""), "message"),
    ):
        done = aegis(project, *args)
        assert done.returncode == 1
        assert done.stderr.startswith(f"error: the {what} is empty\n")


def test_chat_refuses_an_unknown_profile_before_starting_anything(tmp_path: Path) -> None:
    (tmp_path / ".aegis.py").write_text(CONFIG)
    done = aegis(tmp_path, "chat", "nosuch")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "error: no agent profile 'nosuch'",
        "  hint: profiles: offline, missing",
    ]
    assert not (tmp_path / ".aegis").exists()  # no runtime was started for nothing
