"""Workflow runs and queue operations through one daemon: start, live log (replay then
live), cancel, list and show; task cancel, retry and wait."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from aegis.daemon.client import (
    DaemonClient,
    DaemonError,
    Numbered,
    RunEnd,
    RunLine,
    RunSession,
    StreamEnd,
)
from aegis.daemon.protocol import config_digest
from aegis.events import StateChanged, TurnEnd
from tests.daemon.conftest import CONFIG, make_project, start_daemon, stop_daemon

pytestmark = pytest.mark.anyio

WORKFLOWS = '''
from aegis.workflow import workflow


@workflow
async def pair(engine, topic: str, rounds: int = 1) -> str:
    """Ask a spawned agent, then delegate to the work queue."""
    handle = await engine.spawn("offline")
    answers = [await engine.ask(handle, "hello") for _ in range(rounds)]
    answers.append(await engine.delegate("work", "count 3"))
    return f"{topic}: " + " | ".join(answers)


@workflow
async def stuck(engine, where: str = "session") -> None:
    """Wait on an agent that answers after a minute (in a session, or in a queue task)."""
    if where == "queue":
        await engine.delegate("work", "slow")
    else:
        handle = await engine.spawn("offline")
        await engine.ask(handle, "slow")
'''


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = make_project(tmp_path_factory.mktemp("workflows") / "project", CONFIG + WORKFLOWS)
    start_daemon(folder)
    yield folder
    stop_daemon(folder)


def client(project: Path) -> DaemonClient:
    return DaemonClient(project / ".aegis", name="test")


async def read_log(
    daemon: DaemonClient, run_id: str, after: int = 0
) -> tuple[list[RunLine | RunSession], RunEnd]:
    items: list[RunLine | RunSession] = []
    with anyio.fail_after(60):
        async for item in daemon.workflow_log(run_id, after):
            if isinstance(item, RunEnd):
                return items, item
            items.append(item)
    raise AssertionError("the log ended without its end record")


async def session_events(daemon: DaemonClient, handle: str) -> list[Numbered]:
    with anyio.fail_after(60):
        return [i async for i in daemon.events(handle) if not isinstance(i, StreamEnd)]


async def test_a_run_streams_its_log_and_sessions_and_ends_with_its_record(
    project: Path,
) -> None:
    daemon = client(project)
    started = await daemon.run_workflow("pair", {"topic": "t", "rounds": "2"})
    assert started.status.value == "running" and started.arguments == {"topic": "t", "rounds": "2"}
    items, end = await read_log(daemon, started.id)
    assert end.reason == "run ended"
    assert end.run.id == started.id and end.run.status.value == "ok"
    assert end.run.result == "t: hi there | hi there | counted 3, one two three four five"
    assert [i.seq for i in items] == list(range(1, len(items) + 1))
    lines = [i.message for i in items if isinstance(i, RunLine)]
    assert [line for _, line in end.run.log] == lines
    spawned, worker = [i.handle for i in items if isinstance(i, RunSession)]
    assert lines[0] == f"spawned {spawned} (offline)"
    task = (await daemon.tasks(queue="work"))[-1]
    assert task["worker_handle"] == worker and task["sender"] == f"workflow:{started.id}"
    by = {s.handle: s.started_by for s in await daemon.sessions()}
    assert (by[spawned], by[worker]) == (f"workflow:{started.id}", "queue:work")
    # Each session's own stream has its turns, and both ended with the run.
    for handle, turns in ((spawned, 2), (worker, 1)):
        events = [i.event for i in await session_events(daemon, handle)]
        assert sum(isinstance(e, TurnEnd) for e in events) == turns
        assert events[-1] == StateChanged("closed")

    # From the middle: the rest, no gap, no repeat; and the record as the daemon shows it.
    rest, _ = await read_log(daemon, started.id, after=2)
    assert rest == items[2:]
    assert (await daemon.workflow(started.id)).status.value == "ok"
    assert (await daemon.workflows(limit=1))[0].id == started.id


async def test_unknown_workflows_and_bad_arguments_are_refused_before_a_run_starts(
    project: Path,
) -> None:
    daemon = client(project)
    before = len(await daemon.workflows(limit=1000))
    with pytest.raises(DaemonError) as unknown:
        await daemon.run_workflow("nosuch")
    assert unknown.value.code == "unknown_workflow" and "pair" in unknown.value.message
    with pytest.raises(DaemonError) as bad:
        await daemon.run_workflow("pair", {"topic": "t", "rounds": "many"})
    assert bad.value.code == "bad_arguments"
    assert "'rounds': 'many' is not a valid int" in bad.value.message
    with pytest.raises(DaemonError) as missing:
        await daemon.run_workflow("pair")
    assert missing.value.code == "bad_arguments" and "topic" in missing.value.message
    assert len(await daemon.workflows(limit=1000)) == before
    with pytest.raises(DaemonError) as no_run:
        await daemon.workflow("20990101-000000-nosuch-0000")
    assert no_run.value.code == "unknown_run"


@pytest.mark.parametrize("where", ["session", "queue"])
async def test_cancelling_a_run_ends_it_cancelled_with_its_sessions_closed(
    project: Path, where: str
) -> None:
    daemon = client(project)
    run = await daemon.run_workflow("stuck", {"where": where})
    with anyio.fail_after(60):
        async for item in daemon.workflow_log(run.id):
            if isinstance(item, RunSession):
                handle = item.handle
                break
        while (await daemon.session(handle)).state != "busy":
            await anyio.sleep(0.05)
    status = await daemon.status()
    assert status["workflows"] == {"running": 1}
    # Its log so far, without following the run.
    so_far = [i async for i in daemon.workflow_log(run.id, follow=False)]
    assert isinstance(so_far[-1], RunEnd) and so_far[-1].reason == "replayed"
    assert handle in [i.handle for i in so_far if isinstance(i, RunSession)]
    assert (await daemon.workflows(limit=1))[0].status.value == "running"

    ended = await daemon.cancel_workflow(run.id, wait=True)
    assert (ended.status.value, ended.error) == ("failed", "cancelled")
    assert (await daemon.session(handle)).state == "closed"
    if where == "queue":
        [task] = [t for t in await daemon.tasks(queue="work") if t["worker_handle"] == handle]
        assert task["status"] == "cancelled"
    _, end = await read_log(daemon, run.id)
    assert end.run.error == "cancelled"
    with pytest.raises(DaemonError) as again:
        await daemon.cancel_workflow(run.id)
    assert again.value.code == "run_not_running"
    with pytest.raises(DaemonError) as unknown:
        await daemon.cancel_workflow("20990101-000000-nosuch-0000")
    assert unknown.value.code == "unknown_run"
    assert (await daemon.status())["workflows"] == {"running": 0}


async def test_tasks_are_cancelled_retried_and_waited_for_over_the_protocol(
    project: Path,
) -> None:
    daemon = client(project)
    slow = await daemon.enqueue("work", "slow")
    with anyio.fail_after(60):
        while not (await daemon.task(slow["id"]))["worker_handle"]:
            await anyio.sleep(0.05)
    cancelled = await daemon.cancel_task(slow["id"])
    assert cancelled["status"] == "cancelled"
    worker = cancelled["worker_handle"]
    assert (await daemon.session(worker)).state == "closed"
    with pytest.raises(TimeoutError):
        await daemon.wait_task((await daemon.enqueue("work", "slow"))["id"], timeout=0.5)

    retry = await daemon.retry_task(slow["id"])
    assert (retry["retry_of"], retry["attempt"], retry["payload"]) == (slow["id"], 2, "slow")
    await daemon.cancel_task(retry["id"])
    hello = await daemon.enqueue("work", "hello")
    done = await daemon.wait_task(hello["id"], timeout=60)
    assert (done["status"], done["result"]) == ("done", "hi there")
    with pytest.raises(DaemonError) as refused:
        await daemon.retry_task(hello["id"])
    assert refused.value.code == "not_retryable"
    with pytest.raises(DaemonError) as unknown:
        await daemon.cancel_task("nosuch")
    assert unknown.value.code == "unknown_task"
    for task in await daemon.tasks(queue="work", status="running"):
        await daemon.cancel_task(task["id"])


async def test_a_run_started_without_an_event_loop_runs_only_on_the_file_as_it_is(
    project: Path,
) -> None:
    # `aegis workflow run` starts its run in a warm daemon before it starts an event loop,
    # naming the .aegis.py it means by its digest: a daemon running another version of
    # the file refuses, and starts nothing.
    daemon = client(project)
    before = {r.id for r in await daemon.workflows(limit=100)}
    with pytest.raises(DaemonError) as refused:
        await anyio.to_thread.run_sync(
            lambda: daemon.run_workflow_blocking("pair", {"topic": "x"}, config_digest="0" * 16)
        )
    assert refused.value.code == "config_changed"
    assert refused.value.hint is not None and "aegis daemon restart" in refused.value.hint
    assert {r.id for r in await daemon.workflows(limit=100)} == before

    digest = config_digest(project / ".aegis.py")
    assert digest is not None
    record = await anyio.to_thread.run_sync(
        lambda: daemon.run_workflow_blocking("pair", {"topic": "now"}, config_digest=digest)
    )
    assert record.workflow == "pair" and record.id not in before
    _, end = await read_log(daemon, record.id)
    assert end.run.result == "now: hi there | counted 3, one two three four five", end.run
    with pytest.raises(DaemonError) as unknown:
        await anyio.to_thread.run_sync(
            lambda: daemon.run_workflow_blocking("nosuch", config_digest=digest)
        )
    assert unknown.value.code == "unknown_workflow"
