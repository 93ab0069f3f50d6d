"""The daemon client's connections: a read cancelled as data arrives leaves no error
behind in the event loop (anyio's own Unix stream, on asyncio, reports one)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from anyio.abc import ByteStream

from aegis.daemon import http
from aegis.daemon.client import DaemonClient, DaemonError
from aegis.daemon.protocol import socket_path
from aegis.daemon.unixstream import connect_unix

pytestmark = pytest.mark.anyio


async def test_a_read_cancelled_as_data_arrives_leaves_no_error_in_the_loop(
    tmp_path: Path,
) -> None:
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: errors.append(context))
    path = str(tmp_path / "socket")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            server.bind(path)
            server.listen()
            for _ in range(50):
                stream = await connect_unix(path)
                peer, _ = server.accept()  # queued by the kernel: at once
                with peer:
                    async with stream, anyio.create_task_group() as tg:
                        tg.start_soon(stream.receive)
                        for _ in range(2):  # the read starts, then waits for data
                            await anyio.lowlevel.checkpoint()
                        peer.send(b"x")
                        # The data and the cancellation come in the same turn of the loop.
                        await asyncio.sleep(0)
                        tg.cancel_scope.cancel()
    finally:
        loop.set_exception_handler(handler)
    assert errors == []


async def test_the_stream_sends_receives_and_ends(tmp_path: Path) -> None:
    path = str(tmp_path / "socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen()
        stream = await connect_unix(path)
        peer, _ = server.accept()
        with peer:
            async with stream:
                await stream.send(b"ping")
                assert peer.recv(16) == b"ping"
                peer.sendall(b"pong")
                peer.shutdown(socket.SHUT_WR)
                assert await stream.receive() == b"pong"
                try:
                    await stream.receive()
                except anyio.EndOfStream:
                    pass
                else:
                    raise AssertionError("no end of stream")


async def test_a_daemon_that_closes_before_reading_the_request_is_a_broken_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A daemon that exits as it starts may take a client's connection and close it: the
    # request then fails as it is sent, which the client reports (and a starting client
    # waits on) as a lost connection, never as a traceback.
    path = socket_path(tmp_path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen()

        async def connect_then_closed(address: str) -> ByteStream:
            stream = await connect_unix(address)
            peer, _ = server.accept()  # queued by the kernel: at once
            peer.close()  # before a byte of the request is sent
            return stream

        monkeypatch.setattr(http, "connect_unix", connect_then_closed)
        with pytest.raises(DaemonError) as lost:
            await DaemonClient(tmp_path, name="test").status(timeout=5)
    assert lost.value.code == "connection_lost"
