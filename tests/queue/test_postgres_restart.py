"""The PostgreSQL server restarted while a runtime's queue manager runs tasks on it:
the manager reconnects, and no task or callback is lost or doubled."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from aegis.events import UserMessage
from aegis.queue import Queue
from aegis.queue.task import TaskStatus
from tests.queue.fakes import driver_for, running
from tests.session.fake_provider import FakeDriver
from tests.support.postgres import PostgresServer
from tests.support.waiting import until

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_workers")]

SERIAL = Queue("serial", agent_profile="worker", max_parallel=1)


@pytest.mark.parametrize("queue_store", ["postgres"], indirect=True)
async def test_a_server_restart_mid_task_loses_and_doubles_nothing(
    tmp_path: Path, queue_store: str, postgres_server: PostgresServer
) -> None:
    async with running(tmp_path, SERIAL) as env:
        boss = await env.sessions.spawn("boss")
        boss_driver = FakeDriver.instances[-1]
        boss_driver.release.set()  # the callback saying "reply: hold on" must not hold the boss
        with env.sessions.subscribe(boss) as events:
            held = await env.queues.enqueue(
                "serial", "hold on", sender=f"agent:{boss}", callback=True
            )
            before = await env.queues.enqueue(
                "serial", "before", sender=f"agent:{boss}", callback=True
            )
            await until(lambda: driver_for("hold on") is not None, timeout=5)
            # The server goes away and comes back while the task runs.
            await anyio.to_thread.run_sync(postgres_server.restart)
            worker = driver_for("hold on")
            assert worker is not None
            worker.release.set()  # its end is recorded on a connection that broke
            after = await env.queues.enqueue(
                "serial", "after", sender=f"agent:{boss}", callback=True
            )
            tasks = [await env.queues.wait(i, timeout=30) for i in (held, before, after)]
            await until(lambda: not env.backend.pending_callbacks(), timeout=30)
            await anyio.sleep(0.5)  # room for a wrongful second delivery
            await env.sessions.drain(boss, timeout=10)
        messages = [event async for _, event in events if isinstance(event, UserMessage)]
        listed = await env.queues.list_tasks(limit=None)
    assert [t.status for t in tasks] == [TaskStatus.done] * 3
    assert [t.id for t in listed] == [held, before, after]  # none lost, none doubled
    # One callback each: every task's id is in exactly one message the boss got.
    for task_id in (held, before, after):
        assert len([m for m in messages if task_id in m.text]) == 1, task_id
    assert [d.prompts[0] for d in FakeDriver.instances if d is not boss_driver] == [
        "hold on",
        "before",
        "after",
    ]


@pytest.mark.parametrize("queue_store", ["postgres"], indirect=True)
async def test_a_task_longer_than_its_lease_runs_on_while_the_manager_beats(
    tmp_path: Path, queue_store: str, postgres_url: str
) -> None:
    from aegis_queue_postgres.backend import PostgresQueueBackend
    from tests.queue import fakes
    from tests.support.postgres import PASSWORD

    def short_leases(root: Path) -> PostgresQueueBackend:
        return PostgresQueueBackend(postgres_url, password=PASSWORD, lease_seconds=1.0)

    fakes._open_backend.append(short_leases)
    try:
        async with running(tmp_path, SERIAL, recover_interval=0.2) as env:
            task_id = await env.queues.enqueue("serial", "hold long")
            await until(lambda: driver_for("hold long") is not None, timeout=5)
            await anyio.sleep(3.0)  # three leases, each renewed by the manager's heartbeats
            worker = driver_for("hold long")
            assert worker is not None
            worker.release.set()
            task = await env.queues.wait(task_id, timeout=10)
    finally:
        fakes._open_backend.remove(short_leases)
    assert task.status is TaskStatus.done and task.error is None


@pytest.mark.parametrize("queue_store", ["postgres"], indirect=True)
async def test_a_task_added_by_another_process_starts_on_its_notify_not_at_the_next_poll(
    tmp_path: Path, queue_store: str
) -> None:
    from tests.queue.fakes import open_backend

    # Polls 30 s apart: only the NOTIFY of the other process's add can start it in time.
    async with running(tmp_path, SERIAL, poll_interval=30.0):
        await anyio.sleep(0.5)  # the dispatcher found nothing and naps
        other = open_backend(tmp_path)  # another process, on another host
        await anyio.to_thread.run_sync(lambda: other.add("serial", "hello"))
        other.close()
        await until(lambda: driver_for("hello") is not None, timeout=10)


@pytest.mark.parametrize("queue_store", ["postgres"], indirect=True)
async def test_a_callback_reaches_the_enqueuing_session_through_the_runtime_of_its_host(
    tmp_path: Path, queue_store: str
) -> None:
    # Two runtimes on one database, as on two hosts: "a" holds the boss and runs no tasks,
    # "b" runs the task, and reads the outbox far more often than "a".
    async with (
        running(tmp_path / "a", SERIAL, dispatch=False, poll_interval=1.0) as here,
        running(tmp_path / "b", SERIAL) as there,
    ):
        boss = await here.sessions.spawn("boss")
        boss_driver = FakeDriver.instances[-1]
        task_id = await here.queues.enqueue("serial", "work", sender=f"agent:{boss}", callback=True)
        assert (await there.queues.wait(task_id, timeout=10)).status is TaskStatus.done
        await until(lambda: len(boss_driver.prompts) == 1, timeout=10)
        await until(lambda: not here.backend.pending_callbacks(), timeout=10)
    assert task_id in boss_driver.prompts[0]
