"""The orchestration tools, called over streamable HTTP as an agent would, on fake agents.

Who may close, interrupt or cancel what comes from the caller's token and its
profile's ``orchestrate`` field, never from an argument.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from aegis.config import Agent
from aegis.config.loader import Project
from aegis.queue import Queue
from aegis.runtime import Runtime
from aegis.session import SessionState
from tests.mcp.support import AGENTS, WORKERS, Spawned, as_agent, error, ok, spawn
from tests.queue.fakes import POLL, driver_for
from tests.session.fake_provider import Fake, FakeDriver
from tests.support.waiting import until

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_workers")]

PROFILES = {
    **AGENTS,
    **WORKERS,
    "boss": Agent(provider=Fake(), description="Supervises everyone.", orchestrate="any"),
    "drone": Agent(provider=Fake(), description="Does as told.", orchestrate="none"),
    "broken": Agent(provider=Fake(fail_start=True)),
}


def runtime_for(root: Path) -> Runtime:
    (root / ".aegis.py").write_text("# built in the test\n")
    project = Project(
        path=root / ".aegis.py",
        agents=PROFILES,
        default_agent="lead",
        queues={"work": Queue("work", "worker", 1)},
    )
    runtime = Runtime(project)
    runtime.inbox.poll_interval = runtime.queues.poll_interval = POLL
    return runtime


def state(runtime: Runtime, handle: str) -> SessionState:
    return runtime.sessions.get(handle).state


async def test_profiles_are_listed_with_what_each_is_for(tmp_path: Path) -> None:
    async with runtime_for(tmp_path) as runtime:
        lead = await spawn(runtime, "lead")
        async with as_agent(lead) as client:
            listed = ok(await client.call_tool("aegis_list_profiles", {}))
            tools = [t.name for t in (await client.list_tools()).tools]
    assert (listed["you"], listed["orchestrate"], listed["helpers"]) == ("lead", "own", [])
    boss = next(p for p in listed["profiles"] if p["name"] == "boss")
    assert boss == {
        "name": "boss",
        "description": "Supervises everyone.",
        "provider": "fake",
        "model": None,
        "workspace": "project",
        "orchestrate": "any",
    }
    assert [p["name"] for p in listed["profiles"]] == list(PROFILES)
    assert {
        "aegis_list_profiles",
        "aegis_spawn",
        "aegis_close",
        "aegis_interrupt",
        "aegis_cancel_task",
        "aegis_group",
    } <= set(tools)


async def test_helpers_are_closed_with_their_owner_unless_kept(tmp_path: Path) -> None:
    async with runtime_for(tmp_path) as runtime:
        lead = await spawn(runtime, "lead")
        async with as_agent(lead) as client:
            helper = ok(await client.call_tool("aegis_spawn", {"profile": "helper"}))
            kept = ok(await client.call_tool("aegis_spawn", {"profile": "helper", "keep": True}))
            named = ok(
                await client.call_tool("aegis_spawn", {"profile": "worker", "handle": "w-1"})
            )
            listed = ok(await client.call_tool("aegis_list_profiles", {}))
            taken = error(
                await client.call_tool("aegis_spawn", {"profile": "helper", "handle": "w-1"})
            )
            unknown = error(await client.call_tool("aegis_spawn", {"profile": "nobody"}))
            broken = error(await client.call_tool("aegis_spawn", {"profile": "broken"}))
        # A helper's own helper goes with it.
        async with as_agent(Spawned(helper["handle"], FakeDriver.instances[-4])) as client:
            grandchild = ok(await client.call_tool("aegis_spawn", {"profile": "worker"}))
        await runtime.sessions.close(lead.handle)
        closed = [helper["handle"], named["handle"], grandchild["handle"]]
        await until(
            lambda: all(state(runtime, h) is SessionState.closed for h in closed), timeout=5
        )
        kept_state = state(runtime, kept["handle"])
    assert (helper["state"], helper["keep"], kept["keep"]) == ("ready", False, True)
    assert named["handle"] == "w-1"
    assert [h["handle"] for h in listed["helpers"]] == [helper["handle"], kept["handle"], "w-1"]
    assert "w-1' is live" in taken
    assert "no agent profile 'nobody'" in unknown and "boss" in unknown
    assert "the broken session could not start: fake CLI refused to start" in broken
    assert kept_state is SessionState.ready


async def test_an_agent_closes_and_interrupts_only_what_it_spawned(tmp_path: Path) -> None:
    async with runtime_for(tmp_path) as runtime:
        lead = await spawn(runtime, "lead")
        other = await spawn(runtime, "lead")
        stranger = await spawn(runtime, "helper")
        async with as_agent(lead) as client:
            mine = ok(await client.call_tool("aegis_spawn", {"profile": "helper"}))["handle"]
            driver = FakeDriver.instances[-1]
            runtime.sessions.send(mine, "hold this")
            await until(lambda: driver.prompts != [], timeout=5)
            interrupted = ok(await client.call_tool("aegis_interrupt", {"target": mine}))
            await runtime.sessions.drain(mine, timeout=5)
            refused_close = error(
                await client.call_tool("aegis_close", {"target": stranger.handle})
            )
            refused_interrupt = error(
                await client.call_tool("aegis_interrupt", {"target": stranger.handle})
            )
            self_close = error(await client.call_tool("aegis_close", {"target": lead.handle}))
            closed = ok(await client.call_tool("aegis_close", {"target": mine}))
            again = ok(await client.call_tool("aegis_close", {"target": mine}))
        async with as_agent(other) as client:
            not_theirs = error(await client.call_tool("aegis_close", {"target": mine}))
        stranger_state = state(runtime, stranger.handle)
    assert interrupted["detail"] == f"{mine}'s turn interrupted"
    assert driver.prompts == ["hold this"]
    assert f"you did not spawn {stranger.handle}" in refused_close
    assert f"Your live helpers: {mine}." in refused_close
    assert "orchestrate='any'" in refused_close
    assert f"you did not spawn {stranger.handle}" in refused_interrupt
    assert "cannot close your own session" in self_close
    assert (closed["detail"], again["detail"]) == (f"{mine} closed", f"{mine} had already ended")
    assert f"you did not spawn {mine}" in not_theirs
    assert stranger_state is SessionState.ready


async def test_the_profile_decides_whether_others_may_be_stopped(tmp_path: Path) -> None:
    async with runtime_for(tmp_path) as runtime:
        boss = await spawn(runtime, "boss")
        drone = await spawn(runtime, "drone")
        stranger = await spawn(runtime, "helper")
        async with as_agent(drone) as client:
            no_spawn = error(await client.call_tool("aegis_spawn", {"profile": "helper"}))
            no_close = error(await client.call_tool("aegis_close", {"target": stranger.handle}))
        async with as_agent(boss) as client:
            closed = ok(await client.call_tool("aegis_close", {"target": stranger.handle}))
    assert "orchestrate='none': it may not spawn helpers" in no_spawn
    assert "orchestrate='none': it may not close sessions" in no_close
    assert closed["detail"] == f"{stranger.handle} closed"


async def test_an_agent_cancels_only_the_tasks_it_enqueued(tmp_path: Path) -> None:
    async with runtime_for(tmp_path) as runtime:
        lead = await spawn(runtime, "lead")
        boss = await spawn(runtime, "boss")
        queues = runtime.queues
        async with as_agent(lead) as client:

            async def enqueue(payload: str) -> str:
                arguments = {"queue": "work", "payload": payload}
                return str(ok(await client.call_tool("aegis_enqueue", arguments))["task_id"])

            async def cancel(task_id: str) -> Any:
                return await client.call_tool("aegis_cancel_task", {"task_id": task_id})

            # The queue's one worker is held by the lead's first task: the others wait.
            running = await enqueue("hold the worker")
            await until(lambda: driver_for("hold the worker") is not None, timeout=5)
            worker = (await queues.get(running)).worker_handle  # type: ignore[union-attr]
            not_a_helper = error(await client.call_tool("aegis_close", {"target": worker}))
            waiting = await enqueue("wait your turn")
            cancelled = ok(await cancel(waiting))
            again = ok(await cancel(waiting))
            users = await queues.enqueue("work", "hold, the user's", sender="user")
            refused = error(await cancel(users))
            unknown = error(await cancel("nope"))
            stopped = ok(await cancel(running))
        async with as_agent(boss) as client:
            by_boss = ok(await client.call_tool("aegis_cancel_task", {"task_id": users}))
    assert f"{worker} is the worker of your task {running}: stop it with aegis_cancel_task" in (
        not_a_helper
    )
    assert (cancelled["status"], cancelled["detail"]) == ("cancelled", "cancelled")
    assert again["detail"] == "it had already ended: cancelled"
    assert "was enqueued by user, not you" in refused
    assert f"Your latest tasks: {running}, {waiting}." in unknown
    assert stopped["status"] == "cancelled"
    assert by_boss["status"] == "cancelled"


async def test_a_group_of_two_answers_in_order_and_refuses_the_caller(tmp_path: Path) -> None:
    async with runtime_for(tmp_path) as runtime:
        lead = await spawn(runtime, "lead")
        async with as_agent(lead) as client:
            a = ok(await client.call_tool("aegis_spawn", {"profile": "helper"}))["handle"]
            b = ok(await client.call_tool("aegis_spawn", {"profile": "helper"}))["handle"]
            group = ok(
                await client.call_tool(
                    "aegis_group", {"targets": [b, a], "message": "what is 2+2?"}
                )
            )
            first = ok(
                await client.call_tool(
                    "aegis_group",
                    {"targets": [a, b], "message": "hold on", "wait": "first", "timeout": 0.3},
                )
            )
            itself = error(
                await client.call_tool(
                    "aegis_group", {"targets": [a, lead.handle], "message": "hi"}
                )
            )
            bad_cap = error(
                await client.call_tool(
                    "aegis_group", {"targets": [a], "message": "hi", "max_concurrency": 0}
                )
            )
    header = f"Message from agent {lead.handle} (profile lead), sent with aegis_group:"
    assert group["answered"] == 2
    assert [(r["target"], r["status"]) for r in group["replies"]] == [(b, "ok"), (a, "ok")]
    text = group["replies"][0]["text"]
    assert text.startswith(f"reply: {header}") and text.endswith("\n\nwhat is 2+2?")
    # Nobody answered in time: both turns were stopped.
    assert [r["status"] for r in first["replies"]] == ["timeout", "timeout"]
    assert first["answered"] == 0
    assert f"you are {lead.handle}" in itself
    assert "max_concurrency" in bad_cap


async def test_a_group_to_an_agent_waiting_for_the_caller_is_refused_at_once(
    tmp_path: Path,
) -> None:
    # a asks b, b asks c (their turns hold), then c asks a, or b: each would answer only
    # once the asker's turn has ended, which waits for that answer.
    async with runtime_for(tmp_path) as runtime:
        a, b, c = [await spawn(runtime, "helper") for _ in range(3)]
        async with (
            as_agent(a) as as_a,
            as_agent(b) as as_b,
            as_agent(c) as as_c,
            anyio.create_task_group() as tg,
        ):
            tg.cancel_scope.deadline = anyio.current_time() + 60  # not the groups' 600 s
            tg.start_soon(as_a.call_tool, "aegis_group", {"targets": [b.handle], "message": "hold"})
            await until(lambda: b.driver.prompts != [], timeout=10)
            tg.start_soon(as_b.call_tool, "aegis_group", {"targets": [c.handle], "message": "hold"})
            await until(lambda: c.driver.prompts != [], timeout=10)
            back = error(
                await as_c.call_tool("aegis_group", {"targets": [a.handle], "message": "hi"})
            )
            direct = error(
                await as_c.call_tool("aegis_group", {"targets": [b.handle], "message": "hi"})
            )
            tg.cancel_scope.cancel()
        # Nothing was sent, and once those groups are over (their calls given up: the
        # plane stops them a moment later) c may ask both.
        answers: list[dict[str, Any]] = []
        async with as_agent(c) as as_c:

            async def asked() -> bool:
                result = await as_c.call_tool(
                    "aegis_group", {"targets": [a.handle, b.handle], "message": "hi"}
                )
                answers.extend([] if result.is_error else [ok(result)])
                return not result.is_error

            await until(asked, timeout=20)
        [later] = answers
    assert back == (
        f"{a.handle} is waiting through {b.handle} for your answer (aegis_group): it cannot "
        "answer you before your turn has ended, so this would only wait until the timeout. "
        f"End your turn first, or leave {a.handle} out"
    )
    assert direct.startswith(f"{b.handle} is waiting for your answer (aegis_group)")
    assert [p for p in a.driver.prompts if p.endswith("hi")] == [a.driver.prompts[-1]]
    assert later["answered"] == 2


async def test_waiting_on_a_group_is_cancelled_with_the_call(tmp_path: Path) -> None:
    """A client that goes away mid-group (its CLI was interrupted) stops the turns it began."""
    async with runtime_for(tmp_path) as runtime:
        lead = await spawn(runtime, "lead")
        helper = await spawn(runtime, "helper")
        async with as_agent(lead) as client, anyio.create_task_group() as tg:
            tg.start_soon(
                client.call_tool, "aegis_group", {"targets": [helper.handle], "message": "hold it"}
            )
            await until(lambda: helper.driver.prompts != [], timeout=10)
            tg.cancel_scope.cancel()  # the agent's CLI gives the call up
        await until(lambda: state(runtime, helper.handle) is SessionState.ready, timeout=10)
    assert helper.driver.prompts[0].endswith("hold it")
