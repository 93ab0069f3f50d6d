"""The plane's lifetime inside the runtime, what each session is given, and plugin tools."""

from __future__ import annotations

import gc
import logging
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx2
import pytest

from aegis import hookimpl
from aegis.mcp import ToolContext, ToolError
from aegis.plugins import get_host
from aegis.queue import Queue
from aegis.runtime import Runtime
from tests.mcp.support import Spawned, as_agent, error, make_project, ok, running, spawn, text
from tests.session.fake_provider import FakeDriver
from tests.support.waiting import until

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_workers")]


async def test_the_plane_serves_on_loopback_while_the_runtime_runs_and_leaves_nothing_behind(
    tmp_path: Path,
) -> None:
    threads = set(threading.enumerate())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        async with running(tmp_path) as runtime:
            assert runtime.mcp is not None
            url = runtime.mcp.url
            assert url is not None
            assert url.startswith("http://127.0.0.1:") and url.endswith("/mcp")
            lead = await spawn(runtime)
            async with as_agent(lead) as client:
                ok(await client.call_tool("aegis_meta", {}))
        assert runtime.mcp.url is None
        async with httpx2.AsyncClient() as http:
            with pytest.raises(httpx2.ConnectError):
                await http.post(url, json={})
        gc.collect()
    # An unclosed socket, transport or stream of the plane would be a ResourceWarning.
    # (The session manager's subscribe() leaves its subscribers' receive streams open: not ours.)
    leaks = [
        str(w.message)
        for w in caught
        if issubclass(w.category, ResourceWarning)
        and "MemoryObjectReceiveStream" not in str(w.message)
    ]
    assert leaks == []
    # The plane runs no thread of its own (anyio's worker threads are a shared pool).
    left = [t.name for t in set(threading.enumerate()) - threads if "AnyIO worker" not in t.name]
    assert left == []


async def test_each_session_is_given_the_plane_with_its_own_token_and_a_preamble(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as runtime:
        lead = await spawn(runtime, "lead")
        helper = await spawn(runtime, "helper")
    for spawned, profile in ((lead, "lead"), (helper, "helper")):
        assert spawned.server.name == "aegis"
        assert spawned.server.headers["Authorization"].startswith("Bearer ")
        preamble = spawned.driver.options.preamble
        assert preamble is not None
        assert f"You are agent `{spawned.handle}` (profile `{profile}`)" in preamble
        assert "aegis_handoff" in preamble and "aegis_enqueue" in preamble
        assert spawned.token not in preamble
        assert len(preamble) < 1000  # told once, at every session's start: kept short
    assert lead.token != helper.token


async def test_a_client_holding_its_stream_open_does_not_hold_up_stopping(tmp_path: Path) -> None:
    connected = anyio.Event()

    async def stay_connected(spawned: Any) -> None:
        try:
            async with as_agent(spawned) as client:
                ok(await client.call_tool("aegis_meta", {}))
                connected.set()
                await anyio.sleep_forever()
        except Exception:  # the plane going away under it is what this test does
            pass

    async with anyio.create_task_group() as tg:
        async with running(tmp_path) as runtime:
            lead = await spawn(runtime)
            tg.start_soon(stay_connected, lead)
            await connected.wait()
            stopping = time.monotonic()
        stopped_in = time.monotonic() - stopping
        tg.cancel_scope.cancel()
    assert stopped_in < 2.0


@pytest.mark.timeout(30)  # the bug this pins down was a hang on the way out
async def test_cancelling_aegis_with_clients_connected_stops_the_plane_promptly(
    tmp_path: Path,
) -> None:
    connected = anyio.Event()
    runtimes: list[Runtime] = []

    async def run_runtime() -> None:
        async with running(tmp_path) as runtime:
            runtimes.append(runtime)
            lead = await spawn(runtime)
            async with as_agent(lead) as client:
                ok(await client.call_tool("aegis_meta", {}))
                connected.set()
                await anyio.sleep_forever()  # until cancelled, as Ctrl+C does

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_runtime)
        await connected.wait()
        await anyio.sleep(0.2)  # the client's GET stream is open by now
        url = runtimes[0].mcp.url if runtimes[0].mcp else None
        cancelled = time.monotonic()
        tg.cancel_scope.cancel()
    stopped_in = time.monotonic() - cancelled
    assert stopped_in < 3.0
    assert url is not None
    async with httpx2.AsyncClient() as http:
        with pytest.raises(httpx2.ConnectError):
            await http.post(url, json={})


async def test_without_the_plane_sessions_get_no_aegis_server_and_no_preamble(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, mcp=False) as runtime:
        lead = await spawn(runtime)
    assert runtime.mcp is None
    assert lead.driver.options.mcp_servers == ()
    assert lead.driver.options.preamble is None


async def test_the_sdk_default_protocol_revision_is_served_and_authenticated_too(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as runtime:
        lead = await spawn(runtime, "lead")
        async with as_agent(lead, mode="auto") as client:
            meta = ok(await client.call_tool("aegis_meta", {}))
    assert meta["handle"] == lead.handle


# --- tools of plugins -------------------------------------------------------------------------

calls: list[ToolContext] = []


async def shout(ctx: ToolContext, words: str, times: int = 1) -> str:
    """Repeat words in capitals."""
    calls.append(ctx)
    return f"{ctx.handle}: {' '.join([words.upper()] * times)}"


async def refuse(ctx: ToolContext) -> str:
    """Always refuses."""
    raise ToolError("not today: try shout")


async def crash(ctx: ToolContext) -> str:
    """Always crashes."""
    return str(1 // 0)


def not_async(ctx: ToolContext) -> str:
    return "blocking"


class GoodTools:
    @hookimpl
    def register_tools(self, register: Any) -> None:
        register(shout, name="test_shout")
        register(refuse, name="test_refuse", description="Refuses, with a reason.")
        register(crash, name="test_crash")


class BadTools:
    @hookimpl
    def register_tools(self, register: Any) -> None:
        register(not_async, name="test_not_async")


class ClashingTools:
    @hookimpl
    def register_tools(self, register: Any) -> None:
        register(shout, name="aegis_meta")


@pytest.fixture
def tool_plugins() -> Iterator[None]:
    """Registers the test plugins the way entry points are registered (with their info)."""
    host = get_host()
    added = {"good-tools": GoodTools(), "bad-tools": BadTools(), "clashing-tools": ClashingTools()}
    for name, plugin in added.items():
        host.register(plugin, name, "test-dist", "1.0")
    calls.clear()
    yield
    for plugin in added.values():
        host.unregister(plugin)


@pytest.mark.usefixtures("tool_plugins")
async def test_plugins_add_tools_through_register_tools_and_get_the_callers_context(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="aegis.mcp")
    async with running(tmp_path) as runtime:
        lead = await spawn(runtime, "lead")
        async with as_agent(lead) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            shouted = await client.call_tool("test_shout", {"words": "hi", "times": 2})
            refused = error(await client.call_tool("test_refuse", {}))
            crashed = error(await client.call_tool("test_crash", {}))
            still_fine = ok(await client.call_tool("aegis_meta", {}))
    assert {"test_shout", "test_refuse", "test_crash"} <= set(tools)
    assert tools["test_shout"].description == "Repeat words in capitals."
    assert tools["test_refuse"].description == "Refuses, with a reason."
    assert set(tools["test_shout"].input_schema["properties"]) == {"words", "times"}
    assert not shouted.is_error and text(shouted) == f"{lead.handle}: HI HI"
    [ctx] = calls
    assert (ctx.handle, ctx.profile, ctx.sender) == (lead.handle, "lead", f"agent:{lead.handle}")
    assert (ctx.sessions, ctx.queues, ctx.inbox) == (
        runtime.sessions,
        runtime.queues,
        runtime.inbox,
    )
    assert (ctx.workflows, ctx.project_root) == (runtime.workflows, runtime.project.root)
    assert refused == "not today: try shout"
    assert crashed == (
        "test_crash failed with an internal error "
        "(ZeroDivisionError: integer division or modulo by zero); see the aegis log"
    )
    assert "tool test_crash (plugin good-tools) crashed" in caplog.text
    assert still_fine["handle"] == lead.handle
    # A refused registration marks its plugin failed (``aegis plugins`` shows why).
    bad = get_host().info("bad-tools")
    clash = get_host().info("clashing-tools")
    assert bad is not None and bad.error is not None and "async function" in bad.error
    assert clash is not None and clash.error is not None
    assert "'aegis_meta' is already registered by plugin aegis.builtins.mcp_tools" in clash.error
    assert "test_not_async" not in tools


def test_a_runtime_can_be_made_without_starting_anything(tmp_path: Path) -> None:
    from tests.mcp.support import make_project

    runtime = Runtime(make_project(tmp_path))
    assert runtime.mcp is not None and runtime.mcp.url is None
    # Not running: a session opened now would get no aegis tools, and is told nothing.
    assert runtime.mcp.servers_for("someone", "lead") == ()
    assert runtime.mcp.preamble("someone", "lead") is None


async def test_a_task_running_at_a_stop_keeps_its_tools_and_finishes_within_the_grace(
    tmp_path: Path,
) -> None:
    work = Queue("work", agent_profile="worker", max_parallel=1)
    stop = anyio.CancelScope()  # stands for Ctrl+C / SIGTERM: a cancellation from outside
    async with anyio.create_task_group() as tg:

        async def serve(*, task_status: anyio.abc.TaskStatus[Runtime]) -> None:
            with stop:
                async with running(tmp_path, work) as runtime:
                    task_status.started(runtime)
                    await anyio.sleep_forever()

        runtime: Runtime = await tg.start(serve)
        task_id = await runtime.queues.enqueue("work", "hold on")
        await until(lambda: any(d.prompts == ["hold on"] for d in FakeDriver.instances), timeout=5)
        driver = next(d for d in FakeDriver.instances if d.prompts == ["hold on"])
        (info,) = [s for s in runtime.sessions.list_sessions() if s.profile == "worker"]
        stop.cancel()
        await until(lambda: runtime.queues._stopping, timeout=5)
        async with as_agent(Spawned(info.handle, driver)) as client:
            meta = ok(await client.call_tool("aegis_meta", {}))
        driver.release.set()
    assert meta["handle"] == info.handle
    async with running(tmp_path, work, mcp=False) as runtime:
        task = await runtime.queues.get(task_id)
    assert task is not None and task.status.value == "done"


@pytest.mark.timeout(60)
async def test_a_stop_that_comes_while_the_plane_starts_does_not_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aegis.mcp.http import LocalHttpServer

    start = LocalHttpServer.start
    stop = anyio.CancelScope()  # Ctrl+C at the worst moment: the server is starting

    async def start_then_stop(self: LocalHttpServer, tg: anyio.abc.TaskGroup) -> None:
        stop.cancel()
        await start(self, tg)

    monkeypatch.setattr(LocalHttpServer, "start", start_then_stop)
    with stop:
        async with running(tmp_path):
            await anyio.sleep_forever()
    assert stop.cancelled_caught  # and the plane's server is gone: nothing left to wait for


async def test_a_task_waiting_when_aegis_starts_gets_a_worker_with_the_planes_tools(
    tmp_path: Path,
) -> None:
    work = Queue("work", agent_profile="worker", max_parallel=1)
    async with Runtime(make_project(tmp_path, work), dispatch=False, mcp=False) as enqueuer:
        task_id = await enqueuer.queues.enqueue("work", "first")
    async with running(tmp_path, work) as runtime:
        await runtime.queues.wait(task_id, timeout=10)
    worker = next(d for d in FakeDriver.instances if d.prompts == ["first"])
    assert [server.name for server in worker.options.mcp_servers] == ["aegis"]
