"""Durable workflows in one runtime, on the offline scripted agent: checkpoints kept on disk,
a failed run resumed under its id, bash_predicate's feedback to the session it names, and
the execute_plan workflow resumed from its first slice not done."""

from __future__ import annotations

import contextlib
import stat
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest

from aegis.builtins.scripted import Scripted, ScriptedToolCall, ScriptRule
from aegis.config import Agent
from aegis.config.loader import Project
from aegis.runtime import Runtime
from aegis.workflow import PredicateFailed, WorkflowEngine, WorkflowError, runner, workflow
from aegis.workflow import registry as workflow_registry
from aegis.workflow.plan import PlanError, parse_plan
from aegis.workflow.runner import NotResumable, RunRecord, RunStatus, load_run
from tests.support import transcripts

pytestmark = pytest.mark.anyio


def bash(command: str) -> ScriptedToolCall:
    return ScriptedToolCall(tool="bash", input={"command": command})


AGENTS = {
    # Does the work: each message about the check makes one more fix.
    "worker": Agent(
        provider=Scripted(
            rules=[
                ScriptRule(match=r"^fix: ", tool_calls=(bash("echo x >> fixes.txt"),), reply="ok"),
                ScriptRule(
                    match=r"slice 2 of the plan",
                    tool_calls=(bash("echo 2 >> done.txt; test -e once || touch broken once"),),
                    reply="did slice 2",
                ),
                ScriptRule(
                    match=r"slice (\d) of the plan",
                    tool_calls=(bash("echo {1} >> done.txt"),),
                    reply="did slice {1}",
                ),
                ScriptRule(match=r"The check .* fails", reply="tried again"),
            ]
        )
    ),
    "bystander": Agent(provider=Scripted()),
}

STEPS: list[str] = []
"""What the test workflows did, in order."""


@pytest.fixture
def test_workflows() -> Iterator[None]:
    @workflow
    async def durable_steps(engine: WorkflowEngine) -> str:
        done = engine.resume_state()
        for step in ("one", "two", "three"):
            if step in done:
                continue
            STEPS.append(step)
            if step == "two" and not (engine.project_root / "fixed").exists():
                raise WorkflowError("step two needs the file 'fixed'")
            await engine.checkpoint(step, {"step": step, "attempt": engine.attempt})
        return "all done"

    @workflow
    async def durable_bad_payload(engine: WorkflowEngine) -> None:
        await engine.checkpoint("first", {"path": engine.project_root})

    @workflow
    async def durable_predicate(engine: WorkflowEngine, check: str, retries: int = 3) -> str:
        await engine.spawn("bystander", handle="bystander")
        worker = await engine.spawn("worker", handle="worker")
        result = await engine.bash_predicate(
            check,
            "fix: `{cmd}` exit {exit} (retry {attempt}/{max_retries}) {output}",
            retries,
            handle=worker,
        )
        return result.stdout.strip()

    STEPS.clear()
    yield
    for name in ("durable_steps", "durable_bad_payload", "durable_predicate"):
        workflow_registry._project.pop(name, None)


@pytest.fixture
async def runtime(tmp_path: Path, test_workflows: None) -> AsyncIterator[Runtime]:
    async with Runtime(Project(tmp_path / ".aegis.py", AGENTS, "worker"), mcp=False) as runtime:
        yield runtime


async def user_messages(runtime: Runtime, handle: str) -> list[str]:
    records = await transcripts.records(runtime.sessions, handle)
    return [r["text"] for r in records if r.get("type") == "user_message"]


async def test_a_failed_run_resumes_under_its_id_and_skips_the_steps_it_checkpointed(
    runtime: Runtime, tmp_path: Path
) -> None:
    failed = await runtime.workflows.run("durable_steps")
    assert (failed.status, failed.error) == (RunStatus.failed, "step two needs the file 'fixed'")
    on_disk = load_run(runtime.state_dir, failed.id)
    assert on_disk is not None and on_disk.checkpoints == {"one": {"step": "one", "attempt": 1}}
    path = runtime.state_dir / "workflows" / f"{failed.id}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    (tmp_path / "fixed").touch()  # the user fixes what step two needs
    resumed = await runtime.workflows.resume(failed.id)
    assert (resumed.id, resumed.status, resumed.result) == (failed.id, RunStatus.ok, "all done")
    assert STEPS == ["one", "two", "two", "three"]
    assert resumed.attempt == 2
    assert list(resumed.checkpoints) == ["one", "two", "three"]
    assert resumed.checkpoints["three"] == {"step": "three", "attempt": 2}
    messages = [message for _, message in resumed.log]
    assert messages == [
        "checkpoint one",
        "resumed (attempt 2); checkpoints: one",
        "checkpoint two",
        "checkpoint three",
    ]
    with pytest.raises(NotResumable, match="is ok: only a failed, crashed or cancelled"):
        await runtime.workflows.resume(failed.id)
    with pytest.raises(NotResumable, match="no workflow run 'nosuch'"):
        await runtime.workflows.resume("nosuch")


async def test_of_two_runtimes_resuming_one_run_at_once_only_one_resumes_it(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As the daemon and an `aegis --no-daemon workflow resume` would: each finds the run
    # failed. Each load here waits (up to a bound) for the other to have loaded too, the
    # worst interleaving; claiming under the records' lock lets only the first go on.
    failed = await runtime.workflows.run("durable_steps")
    (tmp_path / "fixed").touch()
    both_loaded = threading.Barrier(2)

    def load_at_once(state_dir: Path, run_id: str) -> RunRecord | None:
        record = load_run(state_dir, run_id)
        with contextlib.suppress(threading.BrokenBarrierError):
            both_loaded.wait(timeout=0.5)  # in vain when the other waits for the lock
        return record

    monkeypatch.setattr(runner, "load_run", load_at_once)
    outcomes: list[str] = []

    async def resume(other: Runtime) -> None:
        try:
            outcomes.append((await other.workflows.resume(failed.id)).status.value)
        except NotResumable as exc:
            outcomes.append(str(exc))

    async with Runtime(runtime.project, mcp=False) as second, anyio.create_task_group() as tg:
        tg.start_soon(resume, runtime)
        tg.start_soon(resume, second)
    assert sorted(outcomes) == [
        "ok",
        f"run {failed.id} is running: only a failed, crashed or cancelled run can be resumed",
    ]
    assert STEPS == ["one", "two", "two", "three"]
    on_disk = load_run(runtime.state_dir, failed.id)
    assert on_disk is not None and (on_disk.status, on_disk.attempt) == (RunStatus.ok, 2)


async def test_a_payload_json_cannot_hold_crashes_the_run_saying_so(runtime: Runtime) -> None:
    record = await runtime.workflows.run("durable_bad_payload")
    assert record.status is RunStatus.crashed
    assert record.error is not None and record.error.startswith(
        "TypeError: checkpoint 'first': its payload is not JSON-serialisable "
        "(Object of type PosixPath is not JSON serializable)"
    )
    assert record.checkpoints == {}


async def test_bash_predicate_sends_each_failure_to_the_session_it_names(
    runtime: Runtime,
) -> None:
    # Passes once the worker has made two fixes.
    check = 'n=$(cat fixes.txt 2>/dev/null | wc -l); echo "fixes: $n"; test "$n" -ge 2'
    record = await runtime.workflows.run("durable_predicate", {"check": check})
    assert record.status is RunStatus.ok, record.error
    assert record.result == "fixes: 2"
    feedback = [m for m in await user_messages(runtime, "worker") if m.startswith("fix: ")]
    assert feedback == [
        f"fix: `{check}` exit 1 (retry 1/3) fixes: 0\n",
        f"fix: `{check}` exit 1 (retry 2/3) fixes: 1\n",
    ]
    assert await user_messages(runtime, "bystander") == []
    assert "check passed after 2 retries" in [m for _, m in record.log]


async def test_bash_predicate_raises_with_the_last_result_when_retries_run_out(
    runtime: Runtime,
) -> None:
    failed = await runtime.workflows.run(
        "durable_predicate", {"check": "echo still broken; exit 3", "retries": "2"}
    )
    assert failed.status is RunStatus.failed
    assert failed.error == "`echo still broken; exit 3` still fails (exit 3) after 2 retries:\n" + (
        "still broken"
    )
    assert len([m for m in await user_messages(runtime, "worker") if m.startswith("fix: ")]) == 2
    engine = WorkflowEngine(
        workflow_name="t",
        workflow_run_id="r",
        bridge=runtime.sessions,
        queue_manager=None,
        inbox_router=None,
    )
    with pytest.raises(WorkflowError, match="no session has the handle 'nobody'"):
        await engine.bash_predicate("true", "x", handle="nobody")
    handle = await engine.spawn("bystander")
    with pytest.raises(PredicateFailed) as raised:
        await engine.bash_predicate(
            "exit 4", lambda r: f"exit was {r.returncode}", 1, handle=handle
        )
    assert (raised.value.result.returncode, raised.value.retries) == (4, 1)
    await engine.finish()  # closed: its transcript is complete
    assert (await user_messages(runtime, handle))[-1] == "exit was 4"


PLAN = """# Greetings
Context every slice gets.

## 1. First
Write 1.

```
2. not a slice: inside a code block
```

## 2. Second
Write 2.

## Slice 3: Third
Write 3.
"""


def test_a_plan_splits_into_its_numbered_slices() -> None:
    plan = parse_plan(PLAN)
    assert plan.preamble == "# Greetings\nContext every slice gets."
    assert [(s.number, s.title) for s in plan.slices] == [(1, "First"), (2, "Second"), (3, "Third")]
    assert "2. not a slice" in plan.slices[0].body
    assert parse_plan("1. a\n   1. nested\n2) b\n").slices[1].title == "b"
    with pytest.raises(PlanError, match="no numbered slice"):
        parse_plan("just prose\n")
    with pytest.raises(PlanError, match="numbered 1, 3: they must run 1, 2, 3"):
        parse_plan("1. a\n3. c\n")


async def test_execute_plan_checks_each_slice_and_resumes_from_the_first_not_done(
    runtime: Runtime, tmp_path: Path
) -> None:
    (tmp_path / "PLAN.md").write_text(PLAN)
    arguments = {"plan": "PLAN.md", "profile": "worker", "check": "test ! -e broken"}
    failed = await runtime.workflows.run("execute_plan", {**arguments, "max_retries": "1"})
    # Slice 2's implementer broke the check; it was told once, and did not fix it.
    assert failed.status is RunStatus.failed
    assert failed.error is not None and failed.error.startswith("`test ! -e broken` still fails")
    assert list(failed.checkpoints) == ["slice-1"]
    handles = [line.split()[1] for _, line in failed.log if line.startswith("spawned ")]
    assert len(handles) == 2 and handles[0] == failed.checkpoints["slice-1"]["by"]
    told = await user_messages(runtime, handles[1])
    assert told[0].startswith("You are carrying out slice 2 of the plan PLAN.md.")
    assert "Context every slice gets." in told[0] and "Write 2." in told[0]
    assert told[1].startswith("The check `test ! -e broken` fails (exit 1, retry 1 of 1)")

    (tmp_path / "broken").unlink()  # the user fixes it
    resumed = await runtime.workflows.resume(failed.id)
    assert resumed.status is RunStatus.ok, resumed.error
    assert resumed.result == (
        "3 slice(s) of PLAN.md done (1 in an earlier attempt); `test ! -e broken` passes"
    )
    assert (tmp_path / "done.txt").read_text().split() == ["1", "2", "2", "3"]
    assert list(resumed.checkpoints) == ["slice-1", "slice-2", "slice-3"]
    spawned = [line for _, line in resumed.log if line.startswith("spawned ")]
    assert len(spawned) == 4  # one implementer per slice run: 1 and 2, then 2 and 3
    assert "slice 1/3 done in an earlier attempt: First" in [m for _, m in resumed.log]
