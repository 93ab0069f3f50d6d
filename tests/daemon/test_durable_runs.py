"""Durable workflow runs, driven as a user would (real `aegis` processes, the offline agent):
a run whose daemon is killed (kill -9) in its third step, resumed in the daemon, and a run
that failed in its second step, resumed in the command's own process (`--no-daemon`);
each with `aegis workflow resume` under the same run id, running again only the steps
not done."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aegis.testing.processes import alive, wait_gone
from tests.daemon.conftest import CONFIG, aegis, daemon_pid, make_project, start_daemon, stop_daemon
from tests.e2e.test_exit_paths import processes_in
from tests.support.waiting import wait_until

WORKFLOWS = '''
import anyio
from aegis.workflow import workflow, WorkflowError


async def note(engine, mode, line):
    async with await anyio.open_file(engine.project_root / f"steps-{mode}.txt", "a") as file:
        await file.write(line + "\\n")


@workflow
async def three_steps(engine, mode: str) -> str:
    """Three steps, each asking an agent; checkpointed after each."""
    done = engine.resume_state()
    handle = await engine.spawn("offline")
    answers = [done[step]["answer"] for step in done]
    for step in ("one", "two", "three"):
        if step in done:
            continue
        await note(engine, mode, f"{step} started")
        answer = await engine.ask(handle, "hello")
        if step == "two" and mode == "fail" and not (engine.project_root / "fixed").exists():
            raise WorkflowError("step two needs the file 'fixed'")
        if step == "three" and mode == "hang":
            while not (engine.project_root / "go").exists():
                await anyio.sleep(0.05)
        await note(engine, mode, f"{step} done")
        await engine.checkpoint(step, {"answer": answer})
        answers.append(answer)
    return " | ".join(answers)
'''


def record(project: Path, run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (project / ".aegis" / "workflows" / f"{run_id}.json").read_text()
    )
    return data


def steps(project: Path, mode: str) -> list[str]:
    path = project / f"steps-{mode}.txt"
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One project for the module; the kill test's resume starts its daemon again."""
    folder = make_project(tmp_path_factory.mktemp("durable") / "project", CONFIG + WORKFLOWS)
    start_daemon(folder)
    yield folder
    stop_daemon(folder)
    assert processes_in(folder) == []


def test_a_run_killed_with_its_daemon_resumes_from_its_last_checkpoint(project: Path) -> None:
    first = daemon_pid(project)
    assert first is not None
    started = aegis(project, "workflow", "run", "three_steps", "mode=hang", "--detach")
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip()
    wait_until(lambda: "three started" in steps(project, "hang"), 60, "step three to start")
    assert list(record(project, run_id)["checkpoints"]) == ["one", "two"]
    agents = processes_in(project, exclude=first)
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: not alive(first), 30, "the daemon to die")
    assert wait_gone(agents, timeout=30) == []
    assert record(project, run_id)["status"] == "running"  # nobody ended it

    (project / "go").touch()
    resumed = aegis(project, "workflow", "resume", run_id)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == "hi there | hi there | hi there\n"
    assert steps(project, "hang") == [
        "one started",
        "one done",
        "two started",
        "two done",
        "three started",
        "three started",  # only the step not done ran again
        "three done",
    ]
    ended = record(project, run_id)
    assert (ended["status"], ended["attempt"]) == ("ok", 2)
    assert list(ended["checkpoints"]) == ["one", "two", "three"]
    log = [message for _, message in ended["log"]]
    # The log goes on: the first attempt's lines, then the resumed one's.
    resumed_at = log.index("resumed (attempt 2); checkpoints: one, two")
    assert log[:2] == [log[0], "checkpoint one"] and log[0].startswith("spawned ")
    assert log[resumed_at + 2 :] == ["checkpoint three", log[-1]]
    assert log[-1].startswith("closed ")
    # What the CLI showed is that whole log, as the daemon keeps it.
    assert "checkpoint one" in resumed.stderr and "resumed (attempt 2)" in resumed.stderr


def test_a_run_failed_in_step_two_resumes_once_the_user_fixed_it(project: Path) -> None:
    failed = aegis(project, "workflow", "run", "three_steps", "mode=fail")
    assert failed.returncode == 1
    assert "failed: step two needs the file 'fixed'" in failed.stderr
    run_id = json.loads(aegis(project, "workflow", "runs", "--json").stdout)[-1]["id"]
    assert f"resume it: aegis workflow resume {run_id}" in failed.stderr
    shown = aegis(project, "workflow", "show", "last").stdout
    assert "checkpoints: one" in shown

    (project / "fixed").touch()
    # Resumed in this command's own process this time (the kill test resumes in the daemon).
    resumed = aegis(project, "--no-daemon", "workflow", "resume", "last", "--json")
    assert resumed.returncode == 0, resumed.stderr
    ended = json.loads(resumed.stdout)
    assert (ended["id"], ended["status"], ended["attempt"]) == (run_id, "ok", 2)
    assert steps(project, "fail") == [
        "one started",
        "one done",
        "two started",
        "two started",
        "two done",
        "three started",
        "three done",
    ]
    again = aegis(project, "workflow", "resume", run_id)
    assert again.returncode == 1
    assert again.stderr.startswith(
        f"error: run {run_id} is ok: only a failed, crashed or cancelled run can be resumed"
    )
