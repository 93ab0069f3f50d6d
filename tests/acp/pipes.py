"""In-process pipes for JSON-RPC peers: what one side writes, the other reads as lines."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream


class Pipe:
    """One direction: ``write`` bytes in, ``lines()`` out; ``close()`` is the end of input."""

    def __init__(self) -> None:
        send, receive = anyio.create_memory_object_stream[bytes](1000)
        self._send: MemoryObjectSendStream[bytes] = send
        self._receive: MemoryObjectReceiveStream[bytes] = receive

    async def write(self, data: bytes) -> None:
        await self._send.send(data)

    async def write_json(self, message: Any) -> None:
        await self.write(json.dumps(message).encode() + b"\n")

    def close(self) -> None:
        self._send.close()

    async def lines(self) -> AsyncIterator[bytes]:
        buffer = b""
        async with self._receive:
            async for chunk in self._receive:
                buffer += chunk
                *complete, buffer = buffer.split(b"\n")
                for line in complete:
                    yield line
        if buffer:
            yield buffer

    async def read_json(self) -> Any:
        """The next message written (for tests that play the peer by hand)."""
        data = await self._receive.receive()
        return json.loads(data)
