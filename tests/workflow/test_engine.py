"""WorkflowEngine and WorkflowRunner semantics, on the in-process fake provider."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from aegis import hookimpl
from aegis.config import Agent
from aegis.plugins import get_host
from aegis.session import SessionManager, SessionState
from aegis.testing.processes import wait_gone
from aegis.workflow import WorkflowEngine, WorkflowError, get_workflow, workflow
from aegis.workflow.runner import (
    RunRecord,
    RunStatus,
    WorkflowRunner,
    coerce_arguments,
    load_runs,
)
from tests.session.fake_provider import Fake, FakeDriver

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_provider")]


def engine_for(sessions: SessionManager, **kwargs: Any) -> WorkflowEngine:
    return WorkflowEngine(
        workflow_name="t",
        workflow_run_id="run-1",
        bridge=sessions,
        queue_manager=None,
        inbox_router=None,
        **kwargs,
    )


def sessions_for(tmp_path: Path) -> SessionManager:
    return SessionManager(
        {"main": Agent(provider=Fake()), "other": Agent(provider=Fake())}, root=tmp_path
    )


async def test_spawned_handles_are_closed_when_the_workflow_finishes(tmp_path: Path) -> None:
    async with sessions_for(tmp_path) as sessions:
        engine = engine_for(sessions)
        first = await engine.spawn("main")
        second = await engine.spawn("other", handle="fixed-name")
        answer = await engine.ask(first, "hi")
        await engine.finish()
        states = {info.handle: info.state for info in sessions.list_sessions()}
    assert second == "fixed-name"
    assert answer == "reply: hi"
    assert states == {first: SessionState.closed, second: SessionState.closed}
    assert engine.list_agents() == ["main", "other"]


async def test_close_is_idempotent_and_ignores_unknown_handles(tmp_path: Path) -> None:
    async with sessions_for(tmp_path) as sessions:
        engine = engine_for(sessions)
        handle = await engine.spawn("main")
        await engine.close(handle)
        await engine.close(handle)
        await engine.close("never-heard-of-it")
        assert sessions.get(handle).state is SessionState.closed


async def test_a_drain_that_times_out_logs_a_warning_and_goes_on(tmp_path: Path) -> None:
    async with sessions_for(tmp_path) as sessions:
        engine = engine_for(sessions, drain_timeout=0.05)
        handle = await engine.spawn("main")
        sessions.send(handle, "hold forever")
        started = time.monotonic()
        await engine.drain()
        elapsed = time.monotonic() - started
        FakeDriver.instances[0].release.set()
    assert elapsed < 5
    assert any("still busy" in message for _, message in engine.log_lines)


async def test_bash_runs_in_the_project_root_and_reports_output_and_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".aegis.py").write_text("agents = {}\n")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    async with sessions_for(tmp_path) as sessions:
        engine = engine_for(sessions)
        done = await engine.bash("pwd; echo oops >&2; exit 3")
        custom = await engine.bash("echo $GREETING", cwd="/", env={"GREETING": "hello"})
    assert done.returncode == 3
    assert Path(done.stdout.strip()) == tmp_path
    assert done.stderr.strip() == "oops"
    assert custom.stdout.strip() == "hello"


async def test_bash_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    async with sessions_for(tmp_path) as sessions:
        engine = engine_for(sessions)
        with pytest.raises(WorkflowError, match="timed out"):
            await engine.bash(f"sleep 30 & echo $! > {pid_file}; wait", timeout=0.5)
    child = int(pid_file.read_text())
    assert wait_gone([child]) == [], "the background child of the timed-out command survived"


def test_arguments_are_converted_to_the_declared_types() -> None:
    async def wf(
        engine: Any, count: int, ratio: float = 1.0, loud: bool = False, name: str = "x"
    ) -> None: ...

    assert coerce_arguments(wf, {"count": "3", "loud": "yes", "ratio": "0.5"}) == {
        "count": 3,
        "loud": True,
        "ratio": 0.5,
    }
    with pytest.raises(WorkflowError, match="unknown argument 'colour'"):
        coerce_arguments(wf, {"count": "1", "colour": "red"})
    with pytest.raises(WorkflowError, match="missing argument"):
        coerce_arguments(wf, {})
    with pytest.raises(WorkflowError, match="not a valid int"):
        coerce_arguments(wf, {"count": "many"})


@workflow
async def wf_ok(engine: WorkflowEngine, who: str = "world") -> str:
    handle = await engine.spawn("main")
    engine.log(f"greeting {who}")
    return await engine.ask(handle, f"hello {who}")


@workflow
async def wf_fails(engine: WorkflowEngine) -> None:
    raise WorkflowError("the predicate did not hold")


@workflow
async def wf_crashes(engine: WorkflowEngine) -> None:
    await engine.spawn("main")
    {}["missing"]


async def test_the_runner_records_ok_failed_and_crashed_runs(tmp_path: Path) -> None:
    assert get_workflow("wf_ok") is wf_ok
    async with sessions_for(tmp_path) as sessions:
        runner = WorkflowRunner(
            sessions=sessions,
            queue_manager=None,
            inbox_router=None,
            state_dir=tmp_path / ".aegis",
        )
        ok = await runner.run("wf_ok", {"who": "Ada"})
        failed = await runner.run("wf_fails")
        crashed = await runner.run("wf_crashes")
        states = [info.state for info in sessions.list_sessions()]
    assert (ok.status, ok.result) == (RunStatus.ok, "reply: hello Ada")
    assert any(message == "greeting Ada" for _, message in ok.log)
    assert (failed.status, failed.error) == (RunStatus.failed, "the predicate did not hold")
    assert crashed.status is RunStatus.crashed
    assert "KeyError" in (crashed.error or "")
    assert "wf_crashes" in (crashed.traceback or "")
    assert [s.exit_code for s in (ok.status, failed.status, crashed.status)] == [0, 1, 2]
    assert states == [SessionState.closed, SessionState.closed]  # even the crashed run's
    saved = {r.id: r for r in load_runs(tmp_path / ".aegis")}
    assert saved[ok.id].status is RunStatus.ok
    assert saved[crashed.id].traceback == crashed.traceback
    assert ok.finished_at is not None and ok.finished_at >= ok.started_at


@workflow
async def wf_waits_forever(engine: WorkflowEngine) -> None:
    engine.log("waiting")
    await anyio.sleep_forever()


class RunObserver:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, RunStatus]] = []

    @hookimpl
    def workflow_started(self, run: RunRecord) -> None:
        self.calls.append(("started", run.workflow, run.status))

    @hookimpl
    def workflow_finished(self, run: RunRecord) -> None:
        self.calls.append(("finished", run.workflow, run.status))


async def test_hooks_see_every_run_end_even_one_stopped_by_cancellation(tmp_path: Path) -> None:
    observer = RunObserver()
    get_host().register(observer, "run-observer")
    try:
        async with sessions_for(tmp_path) as sessions:
            runner = WorkflowRunner(
                sessions=sessions,
                queue_manager=None,
                inbox_router=None,
                state_dir=tmp_path / ".aegis",
            )
            await runner.run("wf_fails")
            with anyio.move_on_after(0.5):
                await runner.run("wf_waits_forever")
    finally:
        get_host().unregister(observer)
    assert observer.calls == [
        ("started", "wf_fails", RunStatus.running),
        ("finished", "wf_fails", RunStatus.failed),
        ("started", "wf_waits_forever", RunStatus.running),
        ("finished", "wf_waits_forever", RunStatus.crashed),
    ]
    stopped = next(r for r in load_runs(tmp_path / ".aegis") if r.workflow == "wf_waits_forever")
    assert stopped.error == "cancelled: aegis stopped"
    assert [message for _, message in stopped.log] == ["waiting"]
