"""A queue's warm workers, through the daemon, on the offline ``scripted`` provider:
started before any task, given nothing until their task, refilled after it, within
``max_parallel``, and no reason for an idle daemon to stay."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from aegis.daemon.client import DaemonClient, SessionSummary, StreamEnd
from aegis.events import Event, SessionStarted, TurnEnd, UserMessage
from tests.daemon.conftest import aegis, make_project, start_daemon, stop_daemon
from tests.e2e.test_exit_paths import alive, processes_in
from tests.support.waiting import wait_until

pytestmark = pytest.mark.anyio

CONFIG = """
from aegis.builtins.scripted import Scripted, ScriptRule
from aegis.config import Agent
from aegis.queue import Queue

agents = {
    "offline": Agent(provider=Scripted(rules=[
        ScriptRule(match="^hello$", reply="hi there"),
        ScriptRule(match="^slow$", reply="late", delay=60),
    ])),
}
default_agent = "offline"
queues = [
    Queue("one", agent_profile="offline", max_parallel=1, warm=1),
    Queue("pair", agent_profile="offline", max_parallel=2, warm=2),
]
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = make_project(tmp_path_factory.mktemp("warm") / "project", CONFIG)
    start_daemon(folder, "--idle-timeout", "0")
    yield folder
    stop_daemon(folder)


def client(project: Path) -> DaemonClient:
    return DaemonClient(project / ".aegis", name="test")


async def workers(project: Path, queue: str) -> list[SessionSummary]:
    """The live sessions the daemon shows as started by ``queue``, oldest first."""
    return [
        s
        for s in await client(project).sessions()
        if s.started_by == f"queue:{queue}" and s.state in ("starting", "ready", "busy")
    ]


async def until_workers(project: Path, queue: str, count: int, state: str) -> list[SessionSummary]:
    with anyio.fail_after(30):
        while True:
            found = await workers(project, queue)
            if len(found) == count and all(s.state == state for s in found):
                return found
            await anyio.sleep(0.05)


async def worker_of(daemon: DaemonClient, task_id: str) -> str:
    """The worker of task ``task_id``, once it has one (a claimed task is ``running``
    a moment before its worker is recorded)."""
    with anyio.fail_after(30):
        while not (handle := (await daemon.task(task_id))["worker_handle"]):
            await anyio.sleep(0.05)
    return str(handle)


async def events_of(project: Path, handle: str) -> list[Event]:
    """Every event of session ``handle`` so far (the daemon's replay of its transcript)."""
    events: list[Event] = []
    with anyio.fail_after(30):
        async for item in client(project).events(handle, 0, follow=False):
            if isinstance(item, StreamEnd):
                break
            events.append(item.event)
    return events


async def received(project: Path, handle: str) -> list[str]:
    """The messages session ``handle`` was given."""
    return [e.text for e in await events_of(project, handle) if isinstance(e, UserMessage)]


async def test_a_task_runs_on_the_worker_started_before_it_and_the_pool_refills(
    project: Path,
) -> None:
    daemon = client(project)
    [warm] = await until_workers(project, "one", 1, "ready")
    assert await received(project, warm.handle) == []  # a warm worker has received nothing

    task = await daemon.enqueue("one", "hello")
    with anyio.fail_after(30):
        while (task := await daemon.task(task["id"]))["status"] not in ("done", "failed"):
            await anyio.sleep(0.05)
    assert task["status"] == "done" and task["result"] == "hi there"
    assert task["worker_handle"] == warm.handle
    # The task's transcript is the warm worker's: started before, then the payload first.
    events = await events_of(project, warm.handle)
    assert isinstance(events[0], SessionStarted)
    assert await received(project, warm.handle) == ["hello"]
    assert any(isinstance(e, TurnEnd) and e.text == "hi there" for e in events)
    with anyio.fail_after(30):  # the task's end is recorded, then its worker closed
        while (await daemon.session(warm.handle)).state != "closed":
            await anyio.sleep(0.05)

    [refill] = await until_workers(project, "one", 1, "ready")
    assert refill.handle != warm.handle and await received(project, refill.handle) == []


async def test_warm_workers_and_running_tasks_stay_within_max_parallel(project: Path) -> None:
    daemon = client(project)
    first, second = await until_workers(project, "pair", 2, "ready")
    slow = await daemon.enqueue("pair", "slow")
    # It runs on the oldest warm worker; the other waits: two in all, not three.
    assert await worker_of(daemon, slow["id"]) == first.handle
    live = await workers(project, "pair")
    assert sorted(s.handle for s in live) == sorted([first.handle, second.handle])
    assert await received(project, second.handle) == []

    other = await daemon.enqueue("pair", "slow")
    assert await worker_of(daemon, other["id"]) == second.handle
    await anyio.sleep(0.5)  # a wrongful third worker would be starting by now
    assert len(await workers(project, "pair")) == 2
    for task in (slow, other):
        done = aegis(project, "queue", "cancel", task["id"])
        assert done.returncode == 0, done.stderr
    await until_workers(project, "pair", 2, "ready")


async def test_warm_workers_do_not_keep_an_idle_daemon_alive(tmp_path: Path) -> None:
    folder = make_project(tmp_path / "project", CONFIG)
    pid = start_daemon(folder, "--idle-timeout", "2")
    try:
        daemon = client(folder)
        # An attached client keeps the daemon from idling until the warm workers are
        # ready (a loaded machine may take longer than the idle timeout to start them).
        async with anyio.create_task_group() as tg:

            async def attach() -> None:
                while not (sessions := await daemon.sessions()):
                    await anyio.sleep(0.02)
                async for _ in daemon.events(sessions[0].handle):
                    pass

            tg.start_soon(attach)
            await until_workers(folder, "one", 1, "ready")
            await until_workers(folder, "pair", 2, "ready")
            tg.cancel_scope.cancel()
        wait_until(lambda: not alive(pid), 60, "the idle daemon to exit")
    finally:
        stop_daemon(folder)
    assert "stopping: idle for 2 s" in (folder / ".aegis" / "daemon.log").read_text()
    # Its three warm workers were closed with it, having received nothing; no process is left.
    for transcript in sorted((folder / ".aegis" / "sessions").glob("*/transcript.jsonl")):
        records = [json.loads(line) for line in transcript.read_text().splitlines()]
        assert [r.get("state", r["type"]) for r in records] == [
            "session_started",
            "ready",
            "closed",
        ]
    assert len(list((folder / ".aegis" / "sessions").iterdir())) == 3
    assert processes_in(folder) == []
