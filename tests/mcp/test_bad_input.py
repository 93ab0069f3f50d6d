"""Bad input gets an error result that says what exists; the plane and other sessions carry on."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from aegis.mcp import MAX_REQUEST_BYTES, MAX_TEXT_BYTES
from aegis.queue import Queue
from tests.mcp.support import as_agent, error, ok, running, spawn

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_workers")]

TOO_BIG = "x" * (MAX_TEXT_BYTES + 1)


async def test_unknown_names_are_errors_that_list_what_exists(
    tmp_path: Path, mcp_test_workflows: list[str | None]
) -> None:
    async with running(tmp_path, Queue("work", "worker", 1), Queue("review", "worker", 1)) as s:
        lead = await spawn(s, "lead")
        helper = await spawn(s, "helper")
        async with as_agent(lead) as client:
            no_target = error(
                await client.call_tool("aegis_handoff", {"target": "nobody", "message": "hi"})
            )
            bad_handle = error(
                await client.call_tool("aegis_handoff", {"target": "../../etc", "message": "hi"})
            )
            no_queue = error(
                await client.call_tool("aegis_enqueue", {"queue": "nope", "payload": "x"})
            )
            no_workflow = error(await client.call_tool("aegis_run_workflow", {"name": "nope"}))
            no_task = error(await client.call_tool("aegis_task_status", {"task_id": "nope"}))
            no_tool = error(await client.session.call_tool("aegis_nothing", {}))
    assert f"no session 'nobody'. Live sessions: {helper.handle} (helper, ready)." == no_target
    assert "no session '../../etc'" in bad_handle
    assert no_queue == "no queue 'nope' (queues: review, work)"
    assert no_workflow.startswith("no workflow 'nope' (workflows: ")
    assert "mcp_test_greet" in no_workflow
    assert no_task == "no task 'nope'. You enqueued none."
    assert no_tool.startswith("no tool 'aegis_nothing'; the tools are: aegis_meta, ")


async def test_a_handoff_to_yourself_is_refused(tmp_path: Path) -> None:
    async with running(tmp_path) as runtime:
        lead = await spawn(runtime, "lead")
        async with as_agent(lead) as client:
            refused = error(
                await client.call_tool("aegis_handoff", {"target": lead.handle, "message": "me?"})
            )
    assert refused.startswith(f"you are {lead.handle}: a handoff goes to another session.")
    assert lead.driver.prompts == []


async def test_malformed_arguments_say_what_the_tool_takes(
    tmp_path: Path, mcp_test_workflows: list[str | None]
) -> None:
    async with running(tmp_path) as runtime:
        lead = await spawn(runtime, "lead")
        helper = await spawn(runtime, "helper")
        async with as_agent(lead) as client:
            wrong_type = error(
                await client.call_tool("aegis_handoff", {"target": 42, "message": "hi"})
            )
            missing = error(await client.call_tool("aegis_handoff", {"target": helper.handle}))
            nested = error(
                await client.call_tool(
                    "aegis_run_workflow", {"name": "mcp_test_greet", "arguments": {"name": [1]}}
                )
            )
            unknown_argument = error(
                await client.call_tool(
                    "aegis_run_workflow",
                    {"name": "mcp_test_greet", "arguments": {"name": "x", "colour": "red"}},
                )
            )
            missing_argument = error(
                await client.call_tool("aegis_run_workflow", {"name": "mcp_test_greet"})
            )
            not_an_int = error(
                await client.call_tool(
                    "aegis_run_workflow",
                    {"name": "mcp_test_greet", "arguments": {"name": "x", "times": "many"}},
                )
            )
            empty = error(
                await client.call_tool("aegis_handoff", {"target": helper.handle, "message": " "})
            )
    takes = "It takes: target (string), message (string)."
    assert (
        wrong_type
        == f"invalid arguments for aegis_handoff: target: Input should be a valid string. {takes}"
    )
    assert missing == f"invalid arguments for aegis_handoff: message: Field required. {takes}"
    assert nested.startswith("invalid arguments for aegis_run_workflow: arguments.name")
    assert unknown_argument == (
        "workflow mcp_test_greet: unknown argument 'colour' (arguments: name, times)"
    )
    assert missing_argument.startswith("workflow mcp_test_greet: missing argument(s): name")
    assert not_an_int == "workflow mcp_test_greet: argument 'times': 'many' is not a valid int"
    assert empty.startswith("message is empty")
    assert mcp_test_workflows == []  # no run was started
    assert helper.driver.prompts == []


async def test_texts_over_the_size_limit_are_refused_and_the_limit_itself_is_fine(
    tmp_path: Path, mcp_test_workflows: list[str | None]
) -> None:
    async with running(tmp_path, Queue("work", "worker", 1)) as runtime:
        lead = await spawn(runtime, "lead")
        helper = await spawn(runtime, "helper")
        async with as_agent(lead) as client:
            message = error(
                await client.call_tool(
                    "aegis_handoff", {"target": helper.handle, "message": TOO_BIG}
                )
            )
            payload = error(
                await client.call_tool("aegis_enqueue", {"queue": "work", "payload": TOO_BIG})
            )
            arguments = error(
                await client.call_tool(
                    "aegis_run_workflow", {"name": "mcp_test_greet", "arguments": {"name": TOO_BIG}}
                )
            )
            # Multi-byte characters count as the bytes they take.
            wide = error(
                await client.call_tool(
                    "aegis_handoff",
                    {"target": helper.handle, "message": "é" * (MAX_TEXT_BYTES // 2 + 1)},
                )
            )
            at_the_limit = ok(
                await client.call_tool(
                    "aegis_handoff", {"target": helper.handle, "message": "y" * MAX_TEXT_BYTES}
                )
            )
        assert await runtime.queues.list_tasks() == []
    assert message.startswith(f"message is {MAX_TEXT_BYTES + 1} bytes; the limit is 64 KiB")
    assert payload.startswith("payload is ")
    assert arguments.startswith("arguments is ")
    assert wide.startswith(f"message is {MAX_TEXT_BYTES + 2} bytes")
    assert at_the_limit["status"] == "delivered"
    assert mcp_test_workflows == []


async def test_an_oversized_request_is_refused_over_http_and_the_plane_serves_on(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as runtime:
        lead = await spawn(runtime, "lead")
        helper = await spawn(runtime, "helper")
        huge = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "aegis_meta", "arguments": {"x": "z" * MAX_REQUEST_BYTES}},
        }
        async with httpx2.AsyncClient() as http:
            response = await http.post(
                lead.server.url,
                json=huge,
                headers={
                    **lead.server.headers,
                    "Accept": "application/json, text/event-stream",
                },
            )
        async with as_agent(helper) as client:
            meta = ok(await client.call_tool("aegis_meta", {}))
    assert response.status_code == 413
    assert meta["handle"] == helper.handle


async def test_a_barrage_of_bad_calls_goes_unnoticed_by_other_sessions(tmp_path: Path) -> None:
    async with running(tmp_path) as runtime:
        lead = await spawn(runtime, "lead")
        helper = await spawn(runtime, "helper")
        async with as_agent(lead) as noisy, as_agent(helper) as quiet:
            for arguments in ({}, {"target": None}, {"target": "x", "message": {"a": 1}}):
                error(await noisy.call_tool("aegis_handoff", arguments))
            meta = ok(await quiet.call_tool("aegis_meta", {}))
            again = ok(await noisy.call_tool("aegis_meta", {}))
        await runtime.sessions.drain(helper.handle, timeout=5)
    assert meta["handle"] == helper.handle
    assert again["handle"] == lead.handle
    assert helper.driver.prompts == [] and lead.driver.prompts == []
