"""A cap on the MCP sessions one token may hold open.

An MCP session lives until its client ends it (HTTP ``DELETE``) or it has been
idle for a day (:data:`~aegis.mcp.plane.SESSION_IDLE_TIMEOUT_S`), and holds some
memory meanwhile. A client that opens sessions without ever ending them (a buggy
or hostile agent) would otherwise grow the plane without bound. So the plane
keeps, per session token, the ids of the MCP sessions it opened, in order; when
opening one more would pass :data:`MAX_SESSIONS_PER_TOKEN`, the oldest is ended
first, with the same ``DELETE`` its client could have sent. A real CLI opens one
session (a few after reconnecting), so it never notices; the newest sessions
always work.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from aegis.mcp.tokens import TokenStore

log = logging.getLogger("aegis.mcp")

MAX_SESSIONS_PER_TOKEN = 8
"""How many MCP sessions one token may hold open at once."""

_SESSION_HEADER = b"mcp-session-id"

Scope = dict[str, Any]
Message = dict[str, Any]


class SessionCap:
    """ASGI middleware in front of the plane's app: see the module documentation."""

    def __init__(self, app: Any, tokens: TokenStore, limit: int = MAX_SESSIONS_PER_TOKEN) -> None:
        self.app = app
        self.tokens = tokens
        self.limit = limit
        self._open: dict[str, deque[bytes]] = {}
        """Per handle, the ids of the MCP sessions its token opened, oldest first."""

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        pristine = dict(scope)  # before the app below adds its own keys to it
        headers = dict(scope.get("headers") or [])
        handle = self._handle_of(headers.get(b"authorization", b""))
        session_id = headers.get(_SESSION_HEADER)
        if handle is None:
            await self.app(scope, receive, send)
            return
        if session_id is not None:
            if scope.get("method") == "DELETE":
                self._forget(handle, session_id)
            await self.app(scope, receive, send)
            return
        opened: list[bytes] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message.get("status", 500) < 400:
                opened.extend(v for k, v in message.get("headers", []) if k == _SESSION_HEADER)
            await send(message)

        await self.app(scope, receive, watch)
        if opened:
            await self._opened(handle, opened[0], pristine)

    def _handle_of(self, authorization: bytes) -> str | None:
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        grant = self.tokens.lookup(token.strip())
        return None if grant is None else grant.handle

    def _forget(self, handle: str, session_id: bytes) -> None:
        ids = self._open.get(handle)
        if ids is not None and session_id in ids:
            ids.remove(session_id)

    async def _opened(self, handle: str, session_id: bytes, scope: Scope) -> None:
        # Sessions of handles whose tokens are gone are forgotten here: they can no
        # longer be used (or ended) with a token, and end when they idle out.
        for gone in set(self._open) - self.tokens.handles():
            del self._open[gone]
        ids = self._open.setdefault(handle, deque())
        ids.append(session_id)
        while len(ids) > self.limit:
            oldest = ids.popleft()
            log.warning(
                "session %s holds more than %d MCP sessions: ending the oldest",
                handle,
                self.limit,
            )
            await self._end(oldest, scope)

    async def _end(self, session_id: bytes, scope: Scope) -> None:
        """End MCP session ``session_id`` with a ``DELETE`` made like its client's."""
        headers = [
            (key, value)
            for key, value in scope.get("headers") or []
            if key in (b"host", b"authorization")
        ]
        request: Scope = {
            **scope,
            "method": "DELETE",
            "headers": [*headers, (_SESSION_HEADER, session_id)],
            "query_string": b"",
        }

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            return None  # nobody waits for this answer

        try:
            await self.app(request, receive, send)
        except Exception:  # ending a session is housekeeping: it must not fail a request
            log.exception("could not end an MCP session over the cap")
