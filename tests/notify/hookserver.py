"""A small HTTP server on 127.0.0.1 that receives webhooks, for the tests to point at.

It answers each request with the next status of its script (the last one repeats), or
never answers while ``hang`` is set, and records every request it read whole.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import h11
from anyio.abc import SocketStream


@dataclass
class Received:
    """One request, as the server read it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HookServer:
    """Listens on ``url``; answers with ``statuses`` in turn; records ``received``."""

    port: int = 0
    statuses: list[int] = field(default_factory=lambda: [200])
    hang: bool = False
    received: list[Received] = field(default_factory=list)
    answered: int = 0
    release: anyio.Event = field(default_factory=anyio.Event)
    """Set to let hanging requests go (they are then dropped unanswered)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, stream: SocketStream) -> None:
        async with stream:
            conn = h11.Connection(h11.SERVER)
            request: h11.Request | None = None
            body = b""
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    try:
                        conn.receive_data(await stream.receive())
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        return
                elif isinstance(event, h11.Request):
                    request = event
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
                else:
                    return
            assert request is not None
            self.received.append(
                Received(
                    request.method.decode(),
                    request.target.decode(),
                    {k.decode().lower(): v.decode() for k, v in request.headers},
                    body,
                )
            )
            if self.hang:
                await self.release.wait()
                return
            status = self.statuses[min(self.answered, len(self.statuses) - 1)]
            self.answered += 1
            reply = b'{"ok": true}'
            headers = [("Content-Length", str(len(reply))), ("Connection", "close")]
            data = conn.send(h11.Response(status_code=status, headers=headers)) or b""
            data += conn.send(h11.Data(data=reply)) or b""
            data += conn.send(h11.EndOfMessage()) or b""
            await stream.send(data)


@asynccontextmanager
async def hook_server(**kwargs: Any) -> AsyncIterator[HookServer]:
    """A :class:`HookServer` serving on a free port of 127.0.0.1 while the block runs."""
    server = HookServer(**kwargs)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    server.port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, server.handle)
        try:
            yield server
        finally:
            server.release.set()
            tg.cancel_scope.cancel()
