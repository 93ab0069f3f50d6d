"""An agent enqueues through the MCP plane to a queue served by an ``aegis worker`` process
whose worker is the real claude CLI (against the fake model), on one PostgreSQL database:
the task runs in the worker's process and the callback reaches the enqueuing session."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import anyio
import pytest

from aegis.config.loader import load_project
from aegis.events import UserMessage
from aegis.queue.task import TaskStatus
from aegis.runtime import Runtime
from aegis.testing.fakemodel import FakeModelServer, Reply, Script
from tests.e2e.test_exit_paths import processes_in
from tests.fixtures.fakes import AEGIS, clean_env
from tests.support.clis import claude_env
from tests.support.postgres import PASSWORD_ENV

pytestmark = pytest.mark.anyio

WORKER_HOST = """
from aegis.config import Agent, ClaudeCode
from aegis.queue import Queue
from aegis_queue_postgres import Postgres

agents = {{"reviewer": Agent(provider=ClaudeCode(executable={executable!r}, env={env!r}))}}
default_agent = "reviewer"
queues = [Queue("reviews", agent_profile="reviewer", max_parallel=1)]
queue_backend = Postgres({url!r}, password_env={password_env!r})
"""

BOSS_HOST = """
from aegis.builtins.scripted import Scripted, ScriptedToolCall, ScriptRule
from aegis.config import Agent
from aegis.queue import Queue
from aegis_queue_postgres import Postgres

agents = {{
    "lead": Agent(provider=Scripted(rules=[ScriptRule(
        match="^delegate (.*)",
        tool_calls=[ScriptedToolCall(
            tool="mcp:aegis/aegis_enqueue", input={{"queue": "reviews", "payload": "{{1}}"}}
        )],
        reply="enqueued: {{output}}",
    )])),
    "reviewer": Agent(provider=Scripted()),
}}
default_agent = "lead"
queues = [Queue("reviews", agent_profile="reviewer", max_parallel=1)]
queue_backend = Postgres({url!r}, password_env={password_env!r})
"""


def start_worker(project: Path) -> subprocess.Popen[str]:
    """`aegis queue migrate`, then `aegis worker --queue reviews` in ``project``."""
    migrated = subprocess.run(
        [str(AEGIS), "queue", "migrate"],
        cwd=project,
        env=clean_env(home=project),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrated.returncode == 0, migrated.stderr
    with (project / "worker.log").open("w") as log:
        return subprocess.Popen(
            [str(AEGIS), "worker", "--queue", "reviews"],
            cwd=project,
            env=clean_env(home=project),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )


async def test_a_task_enqueued_by_an_agent_runs_on_a_claude_worker_process_and_calls_back(
    tmp_path: Path, postgres_url: str
) -> None:
    script = Script().on(r"review the change", Reply(text="the change looks right"))
    with FakeModelServer(script) as model:
        claude = claude_env(tmp_path / "claude", model.url)
        worker_host = tmp_path / "worker-host"
        worker_host.mkdir()
        (worker_host / ".aegis.py").write_text(
            WORKER_HOST.format(
                executable=str(claude.executable),
                env=claude.env,
                url=postgres_url,
                password_env=PASSWORD_ENV,
            )
        )
        boss_host = tmp_path / "boss-host"
        boss_host.mkdir()
        (boss_host / ".aegis.py").write_text(
            BOSS_HOST.format(url=postgres_url, password_env=PASSWORD_ENV)
        )
        worker = await anyio.to_thread.run_sync(start_worker, worker_host)
        try:
            # The boss's host runs no task of the queue: only the worker process does.
            project = load_project([boss_host / ".aegis.py"])
            async with Runtime(project, dispatch=False) as runtime:
                lead = await runtime.sessions.spawn("lead")
                with runtime.sessions.subscribe(lead) as events, anyio.fail_after(180):
                    runtime.sessions.send(lead, "delegate review the change")
                    async for _, event in events:
                        if isinstance(event, UserMessage) and event.sender == "queue:reviews":
                            callback = event
                            break
                tasks = await runtime.queues.list_tasks("reviews")
            worker.send_signal(signal.SIGTERM)
            assert await anyio.to_thread.run_sync(lambda: worker.wait(timeout=60)) == 0
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                await anyio.to_thread.run_sync(worker.wait)
    [task] = tasks
    assert task.status is TaskStatus.done and task.result == "the change looks right"
    assert task.owner is not None and task.owner.split(":")[1] == str(worker.pid)
    assert task.sender == f"agent:{lead}"
    assert callback.text.startswith(f"Task {task.id} on queue 'reviews': ok.")
    assert "the change looks right" in callback.text
    worker_log = (worker_host / "worker.log").read_text()
    assert f"{task.id} reviews: done" in worker_log
    assert "Traceback" not in worker_log
    assert processes_in(worker_host) == [] and processes_in(boss_host) == []
