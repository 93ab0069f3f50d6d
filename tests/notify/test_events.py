"""aegis's own events reach the project's webhook: a task fails, a run ends, a session fails.

One real runtime on a real ``.aegis.py`` (the offline scripted agent, a real process)
that declares ``notifications = [Webhook(...)]`` pointing at an HTTP server on
127.0.0.1 that the test starts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from aegis.config.loader import load_project
from aegis.plugins import PluginHost
from aegis.runtime import Runtime
from aegis.session import SessionState
from aegis.workflow.runner import RunStatus
from tests.notify.hookserver import HookServer, hook_server
from tests.support.waiting import until

pytestmark = pytest.mark.anyio

CONFIG = """
import anyio

from aegis.builtins.scripted import Scripted, ScriptedToolCall, ScriptRule
from aegis.config import Agent
from aegis.notify import Webhook
from aegis.queue import Queue
from aegis.workflow import WorkflowError, workflow

DIE = ScriptedToolCall(tool="bash", input={"command": "kill -9 $PPID"})
agents = {
    "main": Agent(provider=Scripted(rules=[
        ScriptRule(match="die", tool_calls=[DIE]),
        ScriptRule(match="(.+)", reply="ok: {1}"),
    ])),
    "broken": Agent(provider=Scripted(rules=[ScriptRule(match=".", error="the model is down")])),
}
default_agent = "main"
queues = [Queue("review", agent_profile="broken", max_parallel=1)]
notifications = [
    Webhook(url="HUNG/hook", retries=0, timeout=60),
    Webhook(url="URL/hook", retries=0, timeout=10),
]


@workflow
async def fine(engine):
    return "all good"


@workflow
async def red(engine):
    raise WorkflowError("the tests are red")


@workflow
async def endless(engine):
    await anyio.sleep_forever()
"""


@pytest.fixture
async def running(host: PluginHost, tmp_path: Path) -> AsyncIterator[tuple[Runtime, HookServer]]:
    """The runtime and the webhook server that answers; the project's other webhook
    never answers (until the test ends): it must hold nothing up."""
    async with hook_server() as server, hook_server(hang=True) as hung:
        config = CONFIG.replace("URL", server.url).replace("HUNG", hung.url)
        (tmp_path / ".aegis.py").write_text(config)
        project = load_project([tmp_path])
        async with Runtime(project, mcp=False) as runtime:
            try:
                yield runtime, server
            finally:
                hung.release.set()  # its requests end unanswered: the runtime stops at once
        assert hung.received, "the hanging webhook was not called"


def bodies(server: HookServer, kind: str) -> list[dict[str, Any]]:
    return [r.json() for r in server.received if r.json()["kind"] == kind]


async def test_a_failed_task_is_posted(running: tuple[Runtime, HookServer]) -> None:
    runtime, server = running
    task_id = await runtime.queues.enqueue("review", "look at this", sender="user")
    await until(lambda: bodies(server, "task_failed"))
    [body] = bodies(server, "task_failed")
    assert (body["task_id"], body["outcome"], body["version"]) == (task_id, "failed", 1)
    assert body["title"] == f"task {task_id} on queue review failed"
    assert "the model is down" in body["body"]
    assert body["project"] == str(runtime.project.root)
    # Delivered while the other webhook's request still hangs.
    assert runtime.notifier.failed == 0


async def test_every_ending_of_a_run_is_posted_with_its_outcome(
    running: tuple[Runtime, HookServer],
) -> None:
    runtime, server = running
    ok = await runtime.workflows.run("fine")
    failed = await runtime.workflows.run("red")
    ended: list[Any] = []
    async with anyio.create_task_group() as tg:

        async def endless() -> None:
            ended.append(await runtime.workflows.run("endless"))

        tg.start_soon(endless)
        await until(lambda: runtime.workflows.running)
        runtime.workflows.cancel(runtime.workflows.running[0])
    [cancelled] = ended
    assert (ok.status, failed.status) == (RunStatus.ok, RunStatus.failed)
    await until(lambda: len(bodies(server, "workflow_finished")) == 3)
    by_run = {body["run_id"]: body for body in bodies(server, "workflow_finished")}
    assert by_run[ok.id]["outcome"] == "ok"
    assert by_run[ok.id]["body"] == "all good"
    assert by_run[failed.id]["outcome"] == "failed"
    assert by_run[failed.id]["body"] == "the tests are red"
    assert by_run[cancelled.id]["outcome"] == "cancelled"
    assert by_run[cancelled.id]["title"] == "workflow endless cancelled"


async def test_a_session_whose_cli_dies_is_posted(running: tuple[Runtime, HookServer]) -> None:
    runtime, server = running
    handle = await runtime.sessions.spawn("main")
    await runtime.sessions.wait_ready(handle)
    runtime.sessions.send(handle, "die now")
    await until(lambda: bodies(server, "session_failed"))
    [body] = bodies(server, "session_failed")
    assert (body["session"], body["outcome"]) == (handle, "failed")
    assert runtime.sessions.get(handle).state is SessionState.failed
    # A session closed on purpose is not a failure.
    other = await runtime.sessions.spawn("main")
    await runtime.sessions.wait_ready(other)
    await runtime.sessions.close(other)
    assert [b["session"] for b in bodies(server, "session_failed")] == [handle]
