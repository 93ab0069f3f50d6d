"""Every built-in tool's happy path, called over streamable HTTP as an agent would."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from aegis.mcp import MAX_TEXT_BYTES
from aegis.queue import Queue
from aegis.workflow import WorkflowEngine, workflow
from aegis.workflow import registry as workflow_registry
from aegis.workflow.runner import load_runs
from tests.mcp.support import as_agent, handoff_line, ok, running, spawn, user_messages
from tests.support.waiting import until

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_workers")]

BUILTIN_TOOLS = [
    "aegis_meta",
    "aegis_list_sessions",
    "aegis_handoff",
    "aegis_enqueue",
    "aegis_task_status",
    "aegis_list_workflows",
    "aegis_run_workflow",
]


async def test_the_tools_are_listed_with_documented_input_and_output_schemas(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as runtime:
        lead = await spawn(runtime)
        async with as_agent(lead) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert list(tools)[: len(BUILTIN_TOOLS)] == BUILTIN_TOOLS
    handoff = tools["aegis_handoff"]
    assert handoff.description is not None and "another agent" in handoff.description
    assert handoff.input_schema["required"] == ["target", "message"]
    assert "64 KiB" in handoff.input_schema["properties"]["message"]["description"]
    assert "caller" not in handoff.input_schema["properties"]  # identity is not an argument
    assert handoff.output_schema is not None
    assert set(handoff.output_schema["properties"]) == {"target", "status", "detail"}
    enqueue = tools["aegis_enqueue"].input_schema
    assert enqueue["properties"]["callback"]["default"] is True


async def test_meta_says_who_the_caller_is_and_what_it_can_reach(
    tmp_path: Path, mcp_test_workflows: list[str | None]
) -> None:
    async with running(tmp_path, Queue("work", "worker", 2)) as runtime:
        lead = await spawn(runtime, "lead")
        helper = await spawn(runtime, "helper")
        gone = await spawn(runtime, "helper")
        await runtime.sessions.close(gone.handle)
        async with as_agent(lead) as client:
            meta = ok(await client.call_tool("aegis_meta", {}))
    assert (meta["handle"], meta["profile"]) == (lead.handle, "lead")
    assert meta["peers"] == [
        {
            "handle": helper.handle,
            "profile": "helper",
            "provider": "fake",
            "state": "ready",
            "queued": 0,
        }
    ]
    assert meta["queues"] == [
        {"name": "work", "agent_profile": "worker", "max_parallel": 2, "queued": 0, "running": 0}
    ]
    assert {"mcp_test_greet", "mcp_test_refuse"} <= set(meta["workflows"])
    assert meta["max_text_bytes"] == 64 * 1024


async def test_list_sessions_marks_the_caller_and_hides_ended_sessions_unless_asked(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as runtime:
        lead = await spawn(runtime, "lead")
        gone = await spawn(runtime, "helper")
        await runtime.sessions.close(gone.handle)
        async with as_agent(lead) as client:
            live = ok(await client.call_tool("aegis_list_sessions", {}))
            everything = ok(await client.call_tool("aegis_list_sessions", {"include_ended": True}))
    assert live["you"] == lead.handle
    assert [s["handle"] for s in live["sessions"]] == [lead.handle]
    assert [(s["handle"], s["state"]) for s in everything["sessions"]] == [
        (lead.handle, "ready"),
        (gone.handle, "closed"),
    ]


async def test_a_handoff_to_an_idle_agent_is_delivered_now_tagged_with_the_caller(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as runtime:
        lead = await spawn(runtime, "lead")
        helper = await spawn(runtime, "helper")
        with runtime.sessions.subscribe(helper.handle) as events:
            async with as_agent(lead) as client:
                answer = ok(
                    await client.call_tool(
                        "aegis_handoff", {"target": helper.handle, "message": "please review"}
                    )
                )
            await runtime.sessions.drain(helper.handle, timeout=5)
        received = [e for _, e in user_messages(events)]
    assert answer["status"] == "delivered"
    assert answer["target"] == helper.handle
    assert [m.sender for m in received] == [f"agent:{lead.handle}"]
    assert helper.driver.prompts == [f"{handoff_line(lead.handle)}\n\nplease review"]
    assert lead.driver.prompts == []


async def test_a_handoff_to_a_busy_agent_waits_in_its_inbox_and_is_delivered_in_order(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as runtime:
        lead = await spawn(runtime, "lead")
        helper = await spawn(runtime, "helper")
        runtime.sessions.send(helper.handle, "hold on to this", sender="user")
        await until(lambda: helper.driver.prompts == ["hold on to this"], timeout=5)
        async with as_agent(lead) as client:
            first = ok(
                await client.call_tool(
                    "aegis_handoff", {"target": helper.handle, "message": "first"}
                )
            )
            second = ok(
                await client.call_tool(
                    "aegis_handoff", {"target": helper.handle, "message": "second"}
                )
            )
        # Nothing reaches the agent while its turn runs.
        await anyio.sleep(0.1)
        assert helper.driver.prompts == ["hold on to this"]
        assert runtime.sessions.get(helper.handle).queued == 2
        helper.driver.release.set()
        assert await runtime.sessions.drain(helper.handle, timeout=5)
    assert (first["status"], second["status"]) == ("queued", "queued")
    assert first["detail"] == (
        f"{helper.handle} is busy; your message waits in its inbox and is delivered in order"
    )
    assert "behind 1 earlier message(s)" in second["detail"]
    line = handoff_line(lead.handle)
    assert helper.driver.prompts == ["hold on to this", f"{line}\n\nfirst", f"{line}\n\nsecond"]


async def test_a_handoff_to_a_closed_session_is_held_until_it_is_resumed(tmp_path: Path) -> None:
    async with running(tmp_path) as runtime:
        lead = await spawn(runtime, "lead")
        helper = await spawn(runtime, "helper")
        await runtime.sessions.close(helper.handle)
        async with as_agent(lead) as client:
            answer = ok(
                await client.call_tool(
                    "aegis_handoff", {"target": helper.handle, "message": "when you are back"}
                )
            )
        assert helper.driver.prompts == []
        revived = await spawn(runtime, "helper", handle=helper.handle, resume="fake-1")
        await until(lambda: len(revived.driver.prompts) == 1, timeout=5)
    assert answer["status"] == "held"
    assert revived.driver.prompts == [f"{handoff_line(lead.handle)}\n\nwhen you are back"]


async def test_enqueue_with_callback_delivers_the_result_to_the_caller_exactly_once(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, Queue("work", "worker", 1)) as runtime:
        lead = await spawn(runtime, "lead")
        async with as_agent(lead) as client:
            queued = ok(
                await client.call_tool("aegis_enqueue", {"queue": "work", "payload": "add tests"})
            )
            task_id = queued["task_id"]
            await runtime.queues.wait(task_id, timeout=5)
            await until(lambda: len(lead.driver.prompts) == 1, timeout=5)
            # The outbox is delivered at least once; the inbox key makes it exactly once.
            await runtime.queues._deliver_callbacks()
            await anyio.sleep(0.2)
            status = ok(await client.call_tool("aegis_task_status", {"task_id": task_id}))
        task = await runtime.queues.get(task_id)
    assert queued["callback"] is True and queued["queue"] == "work"
    assert task is not None and task.sender == f"agent:{lead.handle}"
    assert lead.driver.prompts == [f"Task {task_id} on queue 'work': ok.\n\nreply: add tests"]
    assert status["status"] == "done"
    assert status["result"] == "reply: add tests"
    assert status["sender"] == f"agent:{lead.handle}"
    assert status["worker_handle"] is not None and status["worker_handle"] != lead.handle


async def test_enqueue_without_callback_leaves_the_caller_alone(tmp_path: Path) -> None:
    async with running(tmp_path, Queue("work", "worker", 1)) as runtime:
        lead = await spawn(runtime, "lead")
        async with as_agent(lead) as client:
            queued = ok(
                await client.call_tool(
                    "aegis_enqueue", {"queue": "work", "payload": "quietly", "callback": False}
                )
            )
            task = await runtime.queues.wait(queued["task_id"], timeout=5)
            await anyio.sleep(0.2)
            status = ok(await client.call_tool("aegis_task_status", {"task_id": queued["task_id"]}))
    assert task.status.value == "done"
    assert status["status"] == "done" and status["callback"] is False
    assert lead.driver.prompts == []


async def test_list_workflows_describes_each_workflow_and_its_arguments(
    tmp_path: Path, mcp_test_workflows: list[str | None]
) -> None:
    async with running(tmp_path) as runtime:
        lead = await spawn(runtime)
        async with as_agent(lead) as client:
            listed = ok(await client.call_tool("aegis_list_workflows", {}))
    by_name = {w["name"]: w for w in listed["workflows"]}
    assert by_name["mcp_test_greet"] == {
        "name": "mcp_test_greet",
        "description": "Greet someone, a number of times.",
        "parameters": [
            {"name": "name", "type": "str", "required": True, "default": None},
            {"name": "times", "type": "int", "required": False, "default": "1"},
        ],
    }


async def test_run_workflow_answers_at_once_and_its_outcome_reaches_the_caller(
    tmp_path: Path, mcp_test_workflows: list[str | None]
) -> None:
    async with running(tmp_path) as runtime:
        lead = await spawn(runtime)
        with runtime.sessions.subscribe(lead.handle) as events:
            async with as_agent(lead) as client:
                started = ok(
                    await client.call_tool(
                        "aegis_run_workflow",
                        {"name": "mcp_test_greet", "arguments": {"name": "ada", "times": 2}},
                    )
                )
                failed = ok(
                    await client.call_tool("aegis_run_workflow", {"name": "mcp_test_refuse"})
                )
                crashed = ok(
                    await client.call_tool("aegis_run_workflow", {"name": "mcp_test_crash"})
                )
            await until(lambda: len(lead.driver.prompts) == 3, timeout=5)
        messages = [e for _, e in user_messages(events)]
    run_id = started["run_id"]
    assert started["workflow"] == "mcp_test_greet" and run_id in started["detail"]
    assert mcp_test_workflows == [lead.handle]  # the caller is the run's caller_handle
    by_sender = {m.sender: m.text for m in messages}
    assert by_sender[f"workflow:{run_id}"] == (
        f"Workflow mcp_test_greet (run {run_id}) ended: ok.\n\nhello ada x2"
    )
    assert by_sender[f"workflow:{failed['run_id']}"].endswith("ended: failed: refused on purpose")
    assert by_sender[f"workflow:{crashed['run_id']}"].endswith(
        "ended: crashed: ZeroDivisionError: oops"
    )
    assert len(messages) == 3


async def test_a_large_workflow_outcome_reaches_the_caller_cut_and_the_run_record_keeps_it(
    tmp_path: Path,
) -> None:
    @workflow
    async def mcp_test_big(engine: WorkflowEngine) -> str:
        return "é" * 300_000  # 600 kB of UTF-8

    try:
        async with running(tmp_path) as runtime:
            lead = await spawn(runtime)
            async with as_agent(lead) as client:
                started = ok(await client.call_tool("aegis_run_workflow", {"name": "mcp_test_big"}))
            await until(lambda: len(lead.driver.prompts) == 1, timeout=5)
    finally:
        workflow_registry._project.pop("mcp_test_big", None)
    run_id = started["run_id"]
    (delivered,) = lead.driver.prompts
    assert len(delivered.encode()) <= MAX_TEXT_BYTES + 1024  # the sender line comes on top
    assert delivered.endswith(
        f"[cut: {600_000 + len(f'Workflow mcp_test_big (run {run_id}) ended: ok.') + 2} bytes, "
        f"64 KiB shown; the whole result: aegis workflow show {run_id}]"
    )
    (record,) = load_runs(runtime.state_dir)
    assert record.result == "é" * 300_000
