"""The WorkflowEngine as API.md documents it, used from Python outside ``aegis workflow run``.

Each test pins one documented behaviour: an engine built with the documented constructor
delivers what ``send`` queued by itself, in the calling context; ``drain`` is bounded by
``drain_timeout``; ``send`` to an unknown handle is a ``WorkflowError``; ``bash`` runs in
``find_project_root()`` or else the current directory; ``close`` closes only what the
engine spawned. The sessions are the offline scripted agent, a real process.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from aegis.builtins.scripted import Scripted, ScriptRule
from aegis.config import Agent
from aegis.config.loader import Project
from aegis.events import AssistantMessage
from aegis.runtime import Runtime
from aegis.session import SessionState
from aegis.workflow import WorkflowEngine, WorkflowError

pytestmark = pytest.mark.anyio

ECHO = Agent(provider=Scripted(rules=[ScriptRule(match=r"(.+)", reply="heard: {1}")]))
SLOW = Agent(provider=Scripted(rules=[ScriptRule(match=r"slow", reply="done", delay=30)]))


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    (tmp_path / ".aegis.py").write_text("agents = {}\n")
    project = Project(tmp_path / ".aegis.py", {"echo": ECHO, "slow": SLOW}, "echo")
    async with Runtime(project, mcp=False) as running:
        yield running


def engine_on(runtime: Runtime, **kwargs: Any) -> WorkflowEngine:
    """An engine built exactly as API.md documents its constructor."""
    return WorkflowEngine(
        workflow_name="contract",
        workflow_run_id="run-contract",
        bridge=runtime.sessions,
        queue_manager=runtime.queues,
        inbox_router=runtime.inbox,
        **kwargs,
    )


async def test_send_delivers_by_itself_in_order_outside_the_runner(runtime: Runtime) -> None:
    engine = engine_on(runtime, drain_timeout=20)
    handle = await engine.spawn("echo")
    with runtime.sessions.subscribe(handle) as events:
        engine.send(handle, "one")
        engine.send(handle, "two")
        engine.send(handle, "three")
        started = time.monotonic()
        await engine.drain()
        elapsed = time.monotonic() - started
        received: list[str] = []
        with contextlib.suppress(anyio.WouldBlock):
            while True:
                _, event = events.receive_nowait()
                if isinstance(event, AssistantMessage):
                    received.append(event.text)
    assert received == ["heard: one", "heard: two", "heard: three"]
    assert elapsed < 20, "drain waited for its timeout: nothing delivered the messages"
    assert not any("warning" in message for _, message in engine.log_lines)
    await engine.finish()


async def test_delivery_runs_in_the_context_send_was_called_in(runtime: Runtime) -> None:
    seen_by_hook: list[str | None] = []
    caller = contextvars.ContextVar[str | None]("caller", default=None)
    engine = engine_on(runtime)
    handle = await engine.spawn("echo")

    original = runtime.inbox.deliver

    async def observing_deliver(*args: Any, **kwargs: Any) -> bool:
        seen_by_hook.append(caller.get())
        return await original(*args, **kwargs)

    runtime.inbox.deliver = observing_deliver  # type: ignore[method-assign]
    try:
        caller.set("first")
        engine.send(handle, "a")
        caller.set("second")
        engine.send(handle, "b")
        await engine.drain()
    finally:
        del runtime.inbox.deliver
    assert seen_by_hook == ["first", "second"]
    await engine.finish()


async def test_drain_is_bounded_by_drain_timeout_even_for_undelivered_messages(
    runtime: Runtime,
) -> None:
    engine = engine_on(runtime, drain_timeout=0.5)
    handle = await engine.spawn("slow")

    async def never_returns(*args: Any, **kwargs: Any) -> bool:
        await anyio.sleep_forever()
        return True

    runtime.inbox.deliver = never_returns  # type: ignore[method-assign]
    try:
        engine.send(handle, "hello")
        started = time.monotonic()
        await engine.drain()
        elapsed = time.monotonic() - started
        await engine.finish()
    finally:
        del runtime.inbox.deliver
    assert elapsed < 10
    assert any("undelivered" in message for _, message in engine.log_lines)


async def test_send_to_an_unknown_handle_is_a_workflow_error(runtime: Runtime) -> None:
    engine = engine_on(runtime)
    with pytest.raises(WorkflowError, match="nobody-here"):
        engine.send("nobody-here", "hello")


async def test_close_leaves_sessions_the_engine_did_not_spawn(runtime: Runtime) -> None:
    caller = await runtime.sessions.spawn("echo", "the-caller")
    engine = engine_on(runtime, caller_handle=caller)
    mine = await engine.spawn("echo")
    engine.send(caller, "progress report")
    await engine.drain()
    await engine.close(caller)
    await engine.close(mine)
    await engine.finish()
    assert runtime.sessions.get(caller).state is SessionState.ready
    assert runtime.sessions.get(mine).state is SessionState.closed
    await runtime.sessions.close(caller)


async def test_bash_runs_in_the_project_root_found_from_the_current_directory(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engine_on(runtime)
    other = tmp_path / "other-project"
    (other / "deep" / "er").mkdir(parents=True)
    (other / ".aegis.py").write_text("agents = {}\n")
    monkeypatch.chdir(other / "deep" / "er")
    in_project = await engine.bash("pwd")
    outside = tmp_path / "nowhere"
    outside.mkdir()
    (tmp_path / ".aegis.py").unlink()  # so that no ancestor of `outside` is a project
    monkeypatch.chdir(outside)
    no_project = await engine.bash("pwd", env={"COUNT": 3})
    counted = await engine.bash("echo $COUNT", env={"COUNT": 3})
    assert Path(in_project.stdout.strip()) == other.resolve()
    assert Path(no_project.stdout.strip()) == outside.resolve()
    assert counted.stdout.strip() == "3"
