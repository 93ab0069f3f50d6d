"""A worker's CLI dying mid-task fails the task with the reason, and the callback says so."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import anyio
import pytest

from aegis.builtins.scripted import Scripted, ScriptRule
from aegis.config import Agent
from aegis.config.loader import Project
from aegis.queue import Queue
from aegis.queue.task import TaskStatus
from aegis.runtime import Runtime
from aegis.session import SessionState
from tests.e2e.test_exit_paths import processes_in

pytestmark = pytest.mark.anyio


async def test_a_worker_killed_mid_task_fails_the_task_and_the_callback_says_why(
    tmp_path: Path,
) -> None:
    agents = {
        "boss": Agent(provider=Scripted()),
        "worker": Agent(provider=Scripted(rules=[ScriptRule(match="slow", delay=60)])),
    }
    project = Project(
        tmp_path / ".aegis.py", agents, "boss", queues={"work": Queue("work", "worker", 1)}
    )
    async with Runtime(project, mcp=False) as runtime:
        boss = await runtime.sessions.spawn("boss")
        boss_processes = set(processes_in(tmp_path.resolve()))
        with runtime.sessions.subscribe(boss) as events:
            task_id = await runtime.queues.enqueue(
                "work", "slow job", sender=f"agent:{boss}", callback=True
            )
            with anyio.fail_after(30):
                while True:  # until the worker's turn is under way
                    task = await runtime.queues.get(task_id)
                    handle = task.worker_handle if task else None
                    if handle and runtime.sessions.get(handle).state is SessionState.busy:
                        break
                    await anyio.sleep(0.05)
            [worker_pid] = set(processes_in(tmp_path.resolve())) - boss_processes
            os.kill(worker_pid, signal.SIGKILL)
            ended = await runtime.queues.wait(task_id, timeout=30)
            with anyio.fail_after(30):
                callback = None
                async for _, event in events:
                    if (
                        getattr(event, "type", "") == "user_message"
                        and event.sender == "queue:work"
                    ):  # type: ignore[union-attr]
                        callback = event.text  # type: ignore[union-attr]
                        break
    assert ended.status is TaskStatus.failed
    assert ended.error
    assert task_id in (callback or "")
    assert "failed" in (callback or "")
    assert ended.error.split(":")[0] in (callback or "")
