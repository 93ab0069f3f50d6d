"""The daemon carries notifications to attached clients: ``GET /v1/notifications``.

A real daemon (its own process) on a project whose queue's agent fails every turn; a
client follows the stream, a task is enqueued, and the task's failure arrives.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from aegis.daemon.client import DaemonClient, StreamEnd
from aegis.notify import Notification
from tests.daemon.conftest import make_project, start_daemon, stop_daemon

pytestmark = pytest.mark.anyio

CONFIG = """
from aegis.builtins.scripted import Scripted, ScriptRule
from aegis.config import Agent
from aegis.queue import Queue

agents = {"broken": Agent(provider=Scripted(rules=[ScriptRule(match=".", error="model down")]))}
default_agent = "broken"
queues = [Queue("work", agent_profile="broken", max_parallel=1)]
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    folder = make_project(tmp_path / "project", CONFIG)
    start_daemon(folder)
    try:
        yield folder
    finally:
        stop_daemon(folder)


async def test_a_following_client_gets_a_failed_task_and_the_list_keeps_it(project: Path) -> None:
    client = DaemonClient(project / ".aegis", name="test")
    got: list[tuple[int, Notification] | StreamEnd] = []

    async def follow() -> None:
        async for item in client.follow_notifications():
            got.append(item)
            if isinstance(item, tuple):
                return

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(follow)
            # The stream counts as an attached client: it is open once status lists it.
            while not any(
                c["handle"] == "notifications" for c in (await client.status())["clients"]
            ):
                await anyio.sleep(0.05)
            task = await client.enqueue("work", "do it")
    [(seq, notification)] = got
    assert seq == 1
    assert (notification.kind, notification.task_id) == ("task_failed", task["id"])
    assert "model down" in notification.body
    assert notification.project == str(project)
    # Listed afterwards too, and a reconnecting follower after it gets nothing again.
    assert await client.notifications() == [(1, notification)]
    assert await client.notifications(after=1) == []
