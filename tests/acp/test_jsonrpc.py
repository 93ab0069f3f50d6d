"""JSON-RPC 2.0 over newline-delimited JSON: both directions, errors, and a peer that goes away."""

from __future__ import annotations

import os
from typing import Any

import anyio
import pytest

from aegis.acp.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    ConnectionClosed,
    JsonRpcConnection,
    JsonRpcError,
    fd_lines,
    fd_writer,
)
from aegis.process import Diagnostics
from tests.acp.pipes import Pipe

pytestmark = pytest.mark.anyio


async def test_requests_go_both_ways_while_one_is_pending() -> None:
    a_to_b, b_to_a = Pipe(), Pipe()
    seen: list[tuple[str, Any]] = []

    async def a_answers(method: str, params: Any) -> Any:
        seen.append((method, params))
        return {"answer": params["x"] * 2}

    a = JsonRpcConnection(a_to_b.write, on_request=a_answers, name="a")

    async def b_answers(method: str, params: Any) -> Any:
        # While A waits for this answer, B asks A something: answers must not block.
        inner = await b.request("double", {"x": params["x"]})
        return {"sum": inner["answer"] + 1}

    b = JsonRpcConnection(b_to_a.write, on_request=b_answers, name="b")
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(a.serve, b_to_a.lines())
            tg.start_soon(b.serve, a_to_b.lines())
            assert await a.request("compute", {"x": 20}) == {"sum": 41}
            tg.cancel_scope.cancel()
    assert seen == [("double", {"x": 20})]


async def test_notifications_arrive_in_order_and_get_no_answer() -> None:
    a_to_b, b_to_a = Pipe(), Pipe()
    received: list[Any] = []

    async def on_notification(method: str, params: Any) -> None:
        received.append((method, params["n"]))

    a = JsonRpcConnection(a_to_b.write, name="a")
    b = JsonRpcConnection(b_to_a.write, on_notification=on_notification, name="b")
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(b.serve, a_to_b.lines())
            for n in range(50):
                await a.notify("tick", {"n": n})
            a_to_b.close()
    assert received == [("tick", n) for n in range(50)]


async def test_an_error_answer_raises_with_code_message_and_data() -> None:
    a_to_b, b_to_a = Pipe(), Pipe()

    async def refuse(method: str, params: Any) -> Any:
        raise JsonRpcError(400, "API Error: 400 bad request", {"details": "too long"})

    a = JsonRpcConnection(a_to_b.write, name="a")
    b = JsonRpcConnection(b_to_a.write, on_request=refuse, name="b")
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(a.serve, b_to_a.lines())
            tg.start_soon(b.serve, a_to_b.lines())
            with pytest.raises(JsonRpcError) as caught:
                await a.request("session/prompt", {})
            tg.cancel_scope.cancel()
    assert caught.value.code == 400
    assert caught.value.message == "API Error: 400 bad request"
    assert caught.value.data == {"details": "too long"}


async def test_unknown_methods_and_failing_handlers_get_error_answers() -> None:
    to_peer, from_peer = Pipe(), Pipe()

    async def on_request(method: str, params: Any) -> Any:
        if method == "boom":
            raise RuntimeError("handler bug")
        raise JsonRpcError.method_not_found(method)

    diagnostics = Diagnostics()
    peer = JsonRpcConnection(from_peer.write, on_request=on_request, diagnostics=diagnostics)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(peer.serve, to_peer.lines())
            await to_peer.write_json({"jsonrpc": "2.0", "id": 1, "method": "terminal/create"})
            not_found = await from_peer.read_json()
            await to_peer.write_json({"jsonrpc": "2.0", "id": "two", "method": "boom"})
            internal = await from_peer.read_json()
            await to_peer.write_json({"jsonrpc": "2.0", "id": 3})
            invalid = await from_peer.read_json()
            tg.cancel_scope.cancel()
    assert not_found == {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {"code": METHOD_NOT_FOUND, "message": "Method not found: terminal/create"},
    }
    assert internal["id"] == "two" and internal["error"]["code"] == INTERNAL_ERROR
    assert "handler bug" in internal["error"]["message"]
    assert invalid["id"] == 3 and invalid["error"]["code"] == INVALID_REQUEST
    assert "handler bug" in diagnostics.tail()


async def test_pending_requests_fail_at_once_when_the_peer_goes_away() -> None:
    to_peer, from_peer = Pipe(), Pipe()
    client = JsonRpcConnection(to_peer.write, name="agent")
    failures: list[BaseException] = []

    async def ask(method: str) -> None:
        try:
            await client.request(method)
        except ConnectionClosed as exc:
            failures.append(exc)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.serve, from_peer.lines())
            tg.start_soon(ask, "session/prompt")
            tg.start_soon(ask, "session/new")
            # Both requests are on the wire before the peer dies.
            await to_peer.read_json()
            await to_peer.read_json()
            from_peer.close()
    assert len(failures) == 2
    assert client.closed and "agent closed the connection" in str(failures[0])
    with pytest.raises(ConnectionClosed):
        await client.request("late")
    with pytest.raises(ConnectionClosed):
        await client.notify("late")


async def test_garbage_lines_are_skipped_and_noted() -> None:
    to_peer, from_peer = Pipe(), Pipe()
    diagnostics = Diagnostics()
    client = JsonRpcConnection(to_peer.write, diagnostics=diagnostics, name="agent")
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.serve, from_peer.lines())
            async with anyio.create_task_group() as inner:
                result: list[Any] = []

                async def ask() -> None:
                    result.append(await client.request("ping"))

                inner.start_soon(ask)
                request = await to_peer.read_json()
                await from_peer.write(b"Loading extensions...\n")
                await from_peer.write(b"\xff\xfe not utf-8 \x80\n")
                await from_peer.write(b"[1, 2]\n\n   \n")
                await from_peer.write(b'{"jsonrpc": "2.0", "id": 999, "result": {}}\n')
                await from_peer.write_json(
                    {"jsonrpc": "2.0", "id": request["id"], "result": "pong"}
                )
            tg.cancel_scope.cancel()
    assert result == ["pong"]
    notes = diagnostics.tail()
    assert "not JSON: 'Loading extensions...'" in notes
    assert "not UTF-8" in notes
    assert "not a message: 1" in notes
    assert "unknown request id 999" in notes


async def test_a_cancelled_request_ignores_its_late_answer() -> None:
    to_peer, from_peer = Pipe(), Pipe()
    diagnostics = Diagnostics()
    client = JsonRpcConnection(to_peer.write, diagnostics=diagnostics)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.serve, from_peer.lines())
            async with anyio.create_task_group() as asking:
                asking.start_soon(client.request, "slow")
                first = await to_peer.read_json()
                asking.cancel_scope.cancel()
            await from_peer.write_json({"jsonrpc": "2.0", "id": first["id"], "result": "late"})

            async def answer_next() -> None:
                second = await to_peer.read_json()
                await from_peer.write_json({"jsonrpc": "2.0", "id": second["id"], "result": 2})

            tg.start_soon(answer_next)
            assert await client.request("fast") == 2
            tg.cancel_scope.cancel()
    assert f"unknown request id {first['id']}" in diagnostics.tail()


async def test_a_failing_writer_closes_the_connection() -> None:
    async def broken(data: bytes) -> None:
        raise BrokenPipeError("gone")

    client = JsonRpcConnection(broken, name="agent")
    with pytest.raises(ConnectionClosed, match="cannot write to the agent"):
        await client.request("initialize")
    assert client.closed


async def test_fd_transport_carries_a_large_line_over_a_real_pipe() -> None:
    read_fd, write_fd = os.pipe()
    try:
        write = fd_writer(write_fd)
        big = b"x" * (3 << 20)
        received: list[bytes] = []

        async def reader() -> None:
            async for line in fd_lines(read_fd):
                received.append(line)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(reader)
                await write(b"first\n" + big + b"\nlast")
                os.close(write_fd)
                write_fd = -1
        assert received == [b"first", big, b"last"]
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)


async def test_surrogates_and_deep_lines_from_the_peer_are_cleaned_or_skipped_with_a_note() -> None:
    to_peer, from_peer = Pipe(), Pipe()
    diagnostics = Diagnostics()
    received: list[Any] = []

    async def on_notification(method: str, params: Any) -> None:
        received.append(params)

    client = JsonRpcConnection(
        to_peer.write, on_notification=on_notification, diagnostics=diagnostics, name="agent"
    )
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.serve, from_peer.lines())
            await from_peer.write(b'{"jsonrpc":"2.0","method":"n","params":{"t":"a\\ud83d"}}\n')
            await from_peer.write(
                b'{"jsonrpc":"2.0","method":"n","params":' + b"[" * 3000 + b"]" * 3000 + b"}\n"
            )
            await from_peer.write(b'{"jsonrpc":"2.0","method":"n","params":{"t":"after"}}\n')
            while len(received) < 2:
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
    assert received == [{"t": "a\ufffd"}, {"t": "after"}]
    assert "skipped a line that is nested deeper than 100 levels" in diagnostics.tail()


async def test_an_answer_that_cannot_be_encoded_becomes_an_error_answer() -> None:
    to_peer, from_peer = Pipe(), Pipe()

    async def answers(method: str, params: Any) -> Any:
        return {"unencodable": object()} if method == "bad" else "fine \udcff"

    agent_side = JsonRpcConnection(to_peer.write, on_request=answers, name="client")
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(agent_side.serve, from_peer.lines())
            await from_peer.write_json({"jsonrpc": "2.0", "id": 1, "method": "bad"})
            first = await to_peer.read_json()
            await from_peer.write_json({"jsonrpc": "2.0", "id": 2, "method": "ok"})
            second = await to_peer.read_json()
            tg.cancel_scope.cancel()
    assert first["id"] == 1 and first["error"]["code"] == INTERNAL_ERROR
    assert "cannot encode" in first["error"]["message"]
    assert second == {"jsonrpc": "2.0", "id": 2, "result": "fine \ufffd"}
