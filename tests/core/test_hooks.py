"""Every hook, called by the code that calls it, on the test plugin that implements them all.

In the manner of datasette's plugin tests, the guard
:func:`test_every_hook_is_documented_implemented_and_tested` fails when a hook
specification has no documentation, no implementation in ``tests/plugins/every_hook.py``,
or no ``test_hook_<name>`` here.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner

from aegis import hookimpl, hookspecs
from aegis.cli import AegisGroup
from aegis.config import Agent
from aegis.events import StopReason
from aegis.mcp.tools import ToolRegistry
from aegis.notify import Notification, Notifier
from aegis.plugins import PluginHost, allowed_plugins, reset_plugins
from aegis.queue import Queue
from aegis.queue.backends import get_queue_backend
from aegis.queue.task import TaskStatus
from aegis.registry import get_registry
from aegis.session import SessionManager
from aegis.workflow import get_workflow
from aegis.workflow.runner import RunStatus, WorkflowRunner
from tests.plugins import every_hook
from tests.session.fake_provider import Fake, FakeDriver

pytestmark = pytest.mark.anyio


def hook_specs() -> dict[str, Callable[..., Any]]:
    """Every hook specification of :mod:`aegis.hookspecs`, by name."""
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return {
        name: value
        for name, value in vars(hookspecs).items()
        if inspect.isfunction(value) and hasattr(value, marker)
    }


@pytest.fixture
def host() -> Iterator[PluginHost]:
    """A fresh host of the installed plugins plus ``every_hook``, in place of the process's."""
    host = PluginHost()
    host.load(allowed_plugins())
    host.register(every_hook, every_hook.NAME, "aegis-test-plugins", "0.1")
    every_hook.calls.clear()
    FakeDriver.instances.clear()
    reset_plugins(host)
    yield host
    reset_plugins()


def sessions_for(root: Path) -> SessionManager:
    return SessionManager({"main": Agent(provider=Fake())}, root=root)


# --- the guard --------------------------------------------------------------------------


def test_every_hook_is_documented_implemented_and_tested() -> None:
    specs = hook_specs()
    marker = f"{hookspecs.PROJECT_NAME}_impl"
    tests = {name for name in globals() if name.startswith("test_hook_")}

    undocumented = [name for name, spec in specs.items() if len(inspect.getdoc(spec) or "") < 40]
    unimplemented = [name for name in specs if not hasattr(getattr(every_hook, name, None), marker)]
    untested = [
        name for name in specs if not any(test.startswith(f"test_hook_{name}") for test in tests)
    ]

    assert len(specs) >= 14, sorted(specs)
    assert undocumented == [], "hooks without a docstring in aegis/hookspecs.py"
    assert unimplemented == [], "hooks without an implementation in tests/plugins/every_hook.py"
    assert untested == [], "hooks without a test_hook_<name> in tests/core/test_hooks.py"


def test_the_test_plugin_implements_nothing_but_hooks(host: PluginHost) -> None:
    info = host.info(every_hook.NAME)

    assert info is not None and info.error is None
    assert info.hooks == sorted(hook_specs())


# --- registration hooks -----------------------------------------------------------------


@pytest.mark.usefixtures("host")
def test_hook_register_providers() -> None:
    entry = get_registry().get("fake")

    assert entry.plugin == every_hook.NAME
    assert entry.distribution == "aegis-test-plugins"
    assert Agent(harness="fake", model="m") == Agent(provider=Fake(model="m"))


@pytest.mark.usefixtures("host")
def test_hook_register_queue_backends(tmp_path: Path) -> None:
    backend = get_queue_backend("every-hook", tmp_path)
    try:
        assert every_hook.calls == [("queue backend opened", tmp_path)]
        assert (tmp_path / "queue.db").exists()
    finally:
        backend.close()


@pytest.mark.usefixtures("host")
def test_hook_register_workflows() -> None:
    assert get_workflow("every_hook_flow") is every_hook.every_hook_flow


@pytest.mark.usefixtures("host")
def test_hook_register_commands() -> None:
    group = AegisGroup(name="aegis")

    result = CliRunner().invoke(group, ["every-hook"])

    assert result.exit_code == 0, result.output
    assert result.output == "added by every-hook\n"


@pytest.mark.usefixtures("host")
async def test_hook_register_tools(tmp_path: Path) -> None:
    from tests.mcp.support import as_agent, running, spawn, text

    async with running(tmp_path) as runtime:
        lead = await spawn(runtime, "lead")
        async with as_agent(lead) as client:
            listed = {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool("every_hook_echo", {"words": "hi"})

    assert "every_hook_echo" in listed
    assert ToolRegistry.from_plugins().get("every_hook_echo") is not None
    assert not result.is_error and text(result) == f"{lead.handle}: hi"


# --- sessions ---------------------------------------------------------------------------


async def run_one_session(root: Path) -> str:
    """Spawn a session, ask it one thing, close it; its handle."""
    async with sessions_for(root) as sessions:
        handle = await sessions.spawn("main")
        await sessions.request(handle, "the password is swordfish")
        await sessions.close(handle)
    return handle


@pytest.mark.usefixtures("host")
async def test_hook_session_started(tmp_path: Path) -> None:
    handle = await run_one_session(tmp_path)

    [info] = every_hook.seen("session_started")
    assert (info.handle, info.profile, info.provider) == (handle, "main", "fake")
    assert every_hook.calls[0][0] == "session_started"


@pytest.mark.usefixtures("host")
async def test_hook_session_closed(tmp_path: Path) -> None:
    handle = await run_one_session(tmp_path)

    [info] = every_hook.seen("session_closed")
    assert info.handle == handle
    assert every_hook.calls[-1][0] == "session_closed"


@pytest.mark.usefixtures("host")
async def test_hook_before_send(tmp_path: Path) -> None:
    handle = await run_one_session(tmp_path)

    assert every_hook.seen("before_send") == [(handle, "the password is swordfish", "user")]
    assert FakeDriver.instances[0].prompts == ["the ******** is swordfish"]


@pytest.mark.usefixtures("host")
async def test_hook_turn_finished(tmp_path: Path) -> None:
    handle = await run_one_session(tmp_path)

    [(seen_handle, turn)] = every_hook.seen("turn_finished")
    assert seen_handle == handle
    assert turn.stop_reason is StopReason.end_turn
    assert turn.text == "reply: the ******** is swordfish"


# --- queues -----------------------------------------------------------------------------


async def run_one_task(root: Path) -> str:
    """Queue one task and wait for it to end; its id."""
    from tests.queue.fakes import running

    queue = Queue("review", agent_profile="worker", max_parallel=1)
    async with running(root, queue) as env:
        task_id = await env.queues.enqueue("review", "look at this")
        await env.queues.wait(task_id, timeout=30)
    return task_id


@pytest.mark.usefixtures("host")
async def test_hook_task_enqueued(tmp_path: Path) -> None:
    task_id = await run_one_task(tmp_path)

    [task] = every_hook.seen("task_enqueued")
    assert (task.id, task.queue, task.payload, task.status) == (
        task_id,
        "review",
        "look at this",
        TaskStatus.queued,
    )


@pytest.mark.usefixtures("host")
async def test_hook_task_started(tmp_path: Path) -> None:
    task_id = await run_one_task(tmp_path)

    [task] = every_hook.seen("task_started")
    assert (task.id, task.status) == (task_id, TaskStatus.running)
    assert task.worker_handle is not None


@pytest.mark.usefixtures("host")
async def test_hook_task_finished(tmp_path: Path) -> None:
    task_id = await run_one_task(tmp_path)

    [task] = every_hook.seen("task_finished")
    assert (task.id, task.status, task.result) == (task_id, TaskStatus.done, "reply: look at this")


# --- workflows --------------------------------------------------------------------------


async def run_the_workflow(root: Path) -> str:
    """Run the plugin's workflow to its end; the run's id."""
    async with sessions_for(root) as sessions:
        runner = WorkflowRunner(
            sessions=sessions, queue_manager=None, inbox_router=None, state_dir=root / ".aegis"
        )
        record = await runner.run("every_hook_flow", {"word": "hi"})
    assert record.status is RunStatus.ok, record.error
    return record.id


@pytest.mark.usefixtures("host")
async def test_hook_workflow_started(tmp_path: Path) -> None:
    run_id = await run_the_workflow(tmp_path)

    [run] = every_hook.seen("workflow_started")
    assert (run.id, run.workflow, run.arguments) == (run_id, "every_hook_flow", {"word": "hi"})


@pytest.mark.usefixtures("host")
async def test_hook_workflow_finished(tmp_path: Path) -> None:
    run_id = await run_the_workflow(tmp_path)

    [run] = every_hook.seen("workflow_finished")
    assert (run.id, run.status, run.result) == (run_id, RunStatus.ok, "reply: hi")


# --- notifications ----------------------------------------------------------------------


@pytest.mark.usefixtures("host")
async def test_hook_notify(tmp_path: Path) -> None:
    sent = Notification(kind="task_failed", title="task t-1 failed", task_id="t-1")
    async with Notifier(str(tmp_path)) as notifier:
        notifier.send(sent)
        with anyio.fail_after(10):
            while not every_hook.seen("notify"):
                await anyio.sleep(0.01)

    [got] = every_hook.seen("notify")
    assert got == sent.model_copy(update={"project": str(tmp_path)})


# --- one policy for observers -----------------------------------------------------------


class Raiser:
    """A plugin whose observers all raise."""

    def __init__(self) -> None:
        self.calls = 0

    def _raise(self) -> None:
        self.calls += 1
        raise RuntimeError("observer bug")

    @hookimpl
    def session_started(self) -> None:
        self._raise()

    @hookimpl
    def turn_finished(self) -> None:
        self._raise()

    @hookimpl
    def session_closed(self) -> None:
        self._raise()

    @hookimpl
    def workflow_started(self) -> None:
        self._raise()

    @hookimpl
    def workflow_finished(self) -> None:
        self._raise()


@pytest.fixture
def raisers(host: PluginHost) -> tuple[Raiser, Raiser]:
    """One raising plugin before ``every_hook`` and one after: whatever the calling
    order, ``every_hook`` comes after one that raised."""
    first, last = Raiser(), Raiser()
    host.unregister(every_hook)
    host.register(first, "raiser-first")
    host.register(every_hook, every_hook.NAME)
    host.register(last, "raiser-last")
    return first, last


async def test_an_observer_that_raises_is_logged_and_the_others_still_run(
    tmp_path: Path, raisers: tuple[Raiser, Raiser], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="aegis.plugins")

    await run_one_session(tmp_path / "session")
    await run_the_workflow(tmp_path / "workflow")

    assert [name for name, _ in every_hook.calls if name != "before_send"] == [
        "session_started",
        "turn_finished",
        "session_closed",
        "workflow_started",
        "session_started",
        "turn_finished",
        "session_closed",
        "workflow_finished",
    ]
    assert [raiser.calls for raiser in raisers] == [8, 8]
    failures = [r.getMessage() for r in caplog.records if r.name == "aegis.plugins"]
    assert failures.count("session_started hook of plugin 'raiser-first' failed") == 2
    assert failures.count("workflow_finished hook of plugin 'raiser-last' failed") == 1
    assert len(failures) == 16
    assert all(r.exc_info and "observer bug" in str(r.exc_info[1]) for r in caplog.records)


async def test_hooks_are_called_in_the_order_plugins_were_loaded(
    host: PluginHost, tmp_path: Path
) -> None:
    order: list[str] = []

    class Named:
        def __init__(self, name: str) -> None:
            self.name = name

        @hookimpl
        def session_closed(self) -> None:
            order.append(self.name)

    for name in ("one", "two", "three"):
        host.register(Named(name), name)
    await run_one_session(tmp_path)

    assert order == ["one", "two", "three"]
