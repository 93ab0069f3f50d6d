"""Questions through a real daemon and the command line: a workflow's question answered with
`aegis answer`; after a kill -9 of the daemon, the question is still listed and an answer
to it is refused, saying why."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from aegis.daemon.client import DaemonClient
from aegis.questions import Question, QuestionStatus, QuestionStore
from tests.daemon.conftest import CONFIG, aegis, daemon_pid, make_project, start_daemon, stop_daemon
from tests.e2e.test_exit_paths import start
from tests.support.waiting import wait_until

WORKFLOW = '''
from aegis.workflow import workflow


@workflow
async def decide(engine) -> str:
    """Ask a person whether to ship."""
    answer = await engine.ask_human("Ship it?", options=["yes", "no"])
    return f"the person said {answer}"
'''


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = make_project(tmp_path_factory.mktemp("questions") / "project", CONFIG + WORKFLOW)
    start_daemon(folder)
    yield folder
    stop_daemon(folder)


def listed(project: Path, *flags: str) -> list[dict[str, Any]]:
    done = aegis(project, "questions", "--json", *flags)
    assert done.returncode == 0, done.stderr
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found


def on_disk(project: Path) -> list[Question]:
    """Every question of the project, read from its store (quicker than a command)."""
    store = QuestionStore.for_state_dir(project / ".aegis")
    try:
        return store.list_questions(pending_only=False)
    finally:
        store.close()


def asked(project: Path) -> dict[str, Any]:
    """The one pending question (as `aegis questions --json` lists it), once it is asked."""
    wait_until(lambda: on_disk(project), 60, "the workflow's question")
    (question,) = listed(project)
    return question


async def long_poll(project: Path, version: int | None) -> tuple[int, list[Question]]:
    client = DaemonClient(project / ".aegis", name="test")
    return await client.wait_questions(version, wait=60)


def test_a_workflow_question_is_answered_from_the_command_line(project: Path) -> None:
    before, none = anyio.run(long_poll, project, None)
    assert none == []
    run = start(project, "workflow", "run", "decide")
    try:
        # A frontend's live list: the long poll answers once the question is asked.
        after, (polled,) = anyio.run(long_poll, project, before)
        assert after > before and polled.question == "Ship it?"
        question = asked(project)
        assert question["id"] == polled.id
        assert question["question"] == "Ship it?" and question["options"] == ["yes", "no"]
        assert question["asker"] == f"workflow:{question['run_id']}" and question["note"] is None
        wrong = aegis(project, "answer", question["id"], "perhaps")
        assert wrong.returncode == 1
        assert "'perhaps' is not an answer" in wrong.stderr and "'yes', 'no'" in wrong.stderr
        right = aegis(project, "answer", question["id"], "Yes")
        assert right.returncode == 0, right.stderr
        out, err = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 0, err
    assert out.strip() == "the person said yes"
    (settled,) = on_disk(project)
    assert (settled.status, settled.answer, settled.answered_by) == (
        QuestionStatus.answered,
        "yes",
        "user",
    )


def test_after_a_kill_9_the_question_stays_listed_and_its_answer_reaches_the_resumed_run(
    project: Path,
) -> None:
    pid = daemon_pid(project)  # killed here; the resume starts another (the fixture stops it)
    assert pid is not None
    run = start(project, "workflow", "run", "decide")
    try:
        question = asked(project)
        os.kill(pid, signal.SIGKILL)
        run.communicate(timeout=60)  # the client sees its daemon gone, and stops
    finally:
        run.kill()
    wait_until(lambda: daemon_pid(project) is None, 30, "the killed daemon's lock to go")
    run_id = question["run_id"]
    # No daemon now: the commands use the store itself, and start none.
    (still,) = listed(project)
    assert (still["id"], still["status"], still["answerable"]) == (question["id"], "pending", True)
    assert still["note"].startswith(f"run {run_id} is not running (stopped with its aegis)")
    kept = aegis(project, "answer", question["id"], "yes")
    assert kept.returncode == 0, kept.stderr
    assert f"an answer is kept for it: `aegis workflow resume {run_id}`" in kept.stderr
    assert daemon_pid(project) is None
    # The resumed run asks its question again, and gets the answer given meanwhile.
    resumed = aegis(project, "workflow", "resume", run_id)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == "the person said yes\n"
    (settled,) = [q for q in on_disk(project) if q.id == question["id"]]
    assert (settled.status, settled.answer) == (QuestionStatus.answered, "yes")
    assert len(on_disk(project)) == 2  # asked once, not twice (the first test's is the other)
