"""A streamable-HTTP MCP server on 127.0.0.1 for the tests of every provider.

It serves one tool, ``record(note: str) -> str``, which remembers each call (the note
and the request's headers) and answers ``recorded: <note>``, so a test can assert that
an agent's MCP call really arrived::

    with McpTestServer(token="s3cret") as server:
        options = SessionOptions(cwd=..., mcp_servers=(server.mcp_server("test"),))
        ...
        assert server.notes == ["hello"]

With ``token`` set, every HTTP request must carry ``Authorization: Bearer <token>``;
others get a 401 and are counted in ``refused``. The server runs uvicorn in a
background thread on a port the OS picks, and stops when the ``with`` block ends.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import uvicorn
from mcp.server.mcpserver import Context, MCPServer

from aegis.driver import McpServer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class RecordedCall:
    """One call of the ``record`` tool."""

    note: str
    headers: dict[str, str] = field(default_factory=dict)


class McpTestServer:
    """The test MCP server; use it as a context manager and read ``url``."""

    def __init__(self, *, token: str | None = None, name: str = "aegis-test") -> None:
        self.token = token
        self.calls: list[RecordedCall] = []
        self.refused = 0
        self._lock = threading.Lock()
        self._recorded = threading.Condition(self._lock)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._app = self._guard(self._build(name).streamable_http_app())

    def _build(self, name: str) -> MCPServer[Any]:
        mcp: MCPServer[Any] = MCPServer(name, log_level="WARNING")

        @mcp.tool(description="Record a note; answers 'recorded: <note>'.")
        def record(note: str, ctx: Context[Any, Any]) -> str:
            headers = {k.lower(): v for k, v in (ctx.headers or {}).items()}
            with self._recorded:
                self.calls.append(RecordedCall(note, headers))
                self._recorded.notify_all()
            return f"recorded: {note}"

        return mcp

    def _guard(self, app: Asgi) -> Asgi:
        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and self.token is not None:
                headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
                if headers.get("authorization") != f"Bearer {self.token}":
                    with self._lock:
                        self.refused += 1
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 401,
                            "headers": [(b"content-type", b"text/plain")],
                        }
                    )
                    await send({"type": "http.response.body", "body": b"bad or missing token"})
                    return
            await app(scope, receive, send)

        return guarded

    @property
    def url(self) -> str:
        """The MCP endpoint, e.g. ``http://127.0.0.1:41234/mcp``."""
        return f"http://127.0.0.1:{self._port}/mcp"

    def mcp_server(self, name: str = "test") -> McpServer:
        """This server as a session's :class:`~aegis.driver.McpServer` named ``name``."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return McpServer(name=name, url=self.url, headers=headers)

    @property
    def notes(self) -> list[str]:
        """The notes recorded so far, in order."""
        with self._lock:
            return [call.note for call in self.calls]

    def wait_for_calls(self, count: int, timeout: float = 10.0) -> list[RecordedCall]:
        """Block until ``count`` calls were recorded; raise ``TimeoutError`` otherwise."""
        with self._recorded:
            if not self._recorded.wait_for(lambda: len(self.calls) >= count, timeout):
                raise TimeoutError(f"{len(self.calls)} of {count} MCP calls arrived")
            return list(self.calls)

    def start(self) -> Self:
        """Serve in a background thread; returns once the server accepts connections."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(self._app, log_level="warning", lifespan="on")
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="mcp-test-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        # uvicorn offers no callback for "started"; its flag is the documented signal.
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test MCP server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
