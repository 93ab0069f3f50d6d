"""The MCP plane: the MCP server every session's agent can call, and what each session is told.

The :class:`~aegis.runtime.Runtime` owns one plane. It starts with the
runtime and stops with it; in between it serves MCP over streamable HTTP on
``http://127.0.0.1:<free port>/mcp``. The session manager asks it, for every
session it opens, which MCP servers the agent gets (:meth:`McpPlane.servers_for`:
the plane, under the name ``aegis``, with a bearer token of that session's own)
and what the agent is told first (:meth:`McpPlane.preamble`: its handle, its
profile and its tools).

Lifetime, inside the runtime's structured concurrency::

    enter: tools collected -> MCP session manager running -> HTTP server accepting
    exit:  background work cancelled -> every token revoked -> HTTP server stops
           accepting -> MCP sessions end (their open streams close) -> HTTP server gone

Leaving is shielded and bounded (a few seconds at worst), so the server is gone
when the plane has left, even when aegis is being cancelled (Ctrl+C).

The plane is entered after the session manager, the inbox router and the queues and leaves
before them, so a tool call never finds them closed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from aegis.driver import McpServer
from aegis.lifespan import Lifespan
from aegis.mcp.context import MAX_REQUEST_BYTES, ToolContext
from aegis.mcp.tokens import TokenStore

if TYPE_CHECKING:
    from mcp import types
    from mcp.server.context import ServerRequestContext

    from aegis.mcp.http import LocalHttpServer
    from aegis.mcp.tools import ToolRegistry
    from aegis.runtime import Runtime

log = logging.getLogger("aegis.mcp")

SERVER_NAME = "aegis"
"""The name the plane has in every agent's MCP configuration (tools appear as
``mcp__aegis__<tool>`` in claude, ``mcp_aegis_<tool>`` in gemini, ``aegis_<tool>`` in opencode)."""

MCP_PATH = "/mcp"

SESSION_IDLE_TIMEOUT_S = 24 * 3600.0
"""An MCP session with no request and no open stream for this long is forgotten (the
client then opens a new one). Long, because an agent may sit idle for hours."""

INSTRUCTIONS = (
    "aegis connects you to the other agents, queues and workflows of this project. "
    "You are identified by your connection: "
    "call aegis_meta to see who you are and who else is here."
)

PREAMBLE = (
    "You are agent `{handle}` (profile `{profile}`), one of the agents that aegis runs in "
    "this project. The `aegis` MCP server gives you tools to work with the others: "
    "aegis_meta (who you are; your peers, the queues and workflows), "
    "aegis_handoff (send a message to another agent), "
    "aegis_enqueue (hand a task to a queue of workers; the result comes back to you as a message), "
    "aegis_task_status, aegis_list_workflows and aegis_run_workflow (its result also comes back "
    "as a message). Messages from other agents, queues and workflows reach you as new turns "
    "that say who sent them."
)


class RedactedHeaders(dict[str, str]):
    """HTTP headers that hold a secret: usable as a dict, shown as ``<redacted>``.

    :class:`~aegis.driver.McpServer` is a dataclass whose ``repr`` shows its
    headers; this keeps a bearer token out of any log line or error message that
    prints one.
    """

    def __repr__(self) -> str:
        return repr(dict.fromkeys(self, "<redacted>"))

    __str__ = __repr__


class McpPlane(Lifespan):
    """The MCP server of one runtime, and the tokens of its sessions.

    Use it as an async context manager (the runtime does). ``servers_for`` and
    ``preamble`` are the session manager's ``mcp_servers`` and ``preamble``
    callbacks.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.tokens = TokenStore()
        self.url: str | None = None
        """``http://127.0.0.1:<port>/mcp`` while the plane runs, else ``None``."""
        self.registry: ToolRegistry | None = None
        self._background: TaskGroup | None = None

    # --- what sessions get -----------------------------------------------------------------

    def servers_for(self, handle: str, profile: str) -> tuple[McpServer, ...]:
        """The MCP servers of a new session ``handle``: the plane, with a fresh token.

        The session's earlier tokens (of an earlier session with this handle) are
        revoked. When the plane is not running the session gets no aegis tools.
        """
        if self.url is None:
            log.warning("the MCP plane is not running: session %s gets no aegis tools", handle)
            return ()
        token = self.tokens.issue(handle, profile)
        headers = RedactedHeaders({"Authorization": f"Bearer {token}"})
        return (McpServer(SERVER_NAME, self.url, headers, trusted=True),)

    def preamble(self, handle: str, profile: str) -> str | None:
        """What the agent of session ``handle`` is told before its first message."""
        if self.url is None:
            return None
        return PREAMBLE.format(handle=handle, profile=profile)

    # --- lifetime ---------------------------------------------------------------------------

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Serve from entering until leaving (see the module documentation for the order)."""
        # The SDK (and uvicorn) are imported here, not at import time: they take over
        # a second to import, which commands that never run a runtime should not pay.
        # The low-level Server, not MCPServer: MCPServer() calls logging.basicConfig(),
        # which would put log lines on the terminal under the TUI. Tools still get the
        # SDK's own schema derivation and argument validation (aegis.mcp.tools).
        from mcp.server.lowlevel import Server

        from aegis import __version__
        from aegis.mcp.http import HOST, LocalHttpServer, bind_local
        from aegis.mcp.identity import StoreTokenVerifier, auth_settings
        from aegis.mcp.session_cap import SessionCap
        from aegis.mcp.tools import ToolRegistry

        self.registry = ToolRegistry.from_plugins()
        server: Server[Any] = Server(
            SERVER_NAME,
            version=__version__,
            instructions=INSTRUCTIONS,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            get_tool_input_schema=self.registry.input_schema,
        )
        sock = bind_local()
        try:
            base_url = f"http://{HOST}:{sock.getsockname()[1]}"
            app = server.streamable_http_app(
                streamable_http_path=MCP_PATH,
                max_request_body_size=MAX_REQUEST_BYTES,
                session_idle_timeout=SESSION_IDLE_TIMEOUT_S,
                host=HOST,
                auth=auth_settings(base_url),
                token_verifier=StoreTokenVerifier(self.tokens),
            )
            http = LocalHttpServer(SessionCap(app, self.tokens), sock)
            stop = anyio.Event()
            async with anyio.create_task_group() as tg:
                # The server runs in a task of its own, shielded: a cancellation
                # from outside (Ctrl+C, SIGTERM) does not take the tools away from
                # agents still working, such as queue workers in their shutdown
                # grace. It stops when this block is left, and not before.
                started = anyio.Event()
                # Not tg.start(): cancelled while the task starts, it would wait
                # for the (shielded) task to end, which waits for `stop`.
                tg.start_soon(self._host, server, http, started, stop)
                try:
                    # Inside the try: a stop that comes while the server starts
                    # must still reach it, or leaving would wait for it forever.
                    await started.wait()
                    async with anyio.create_task_group() as background:
                        await background.start(self._revoke_closed_sessions)
                        self._background = background
                        self.url = f"{base_url}{MCP_PATH}"
                        log.info("MCP plane listening on %s", self.url)
                        try:
                            yield
                        finally:
                            self.url = None
                            self._background = None
                            background.cancel_scope.cancel()
                finally:
                    stop.set()
        finally:
            sock.close()  # a no-op once the server has closed it

    async def _host(
        self,
        server: Any,
        http: LocalHttpServer,
        started: anyio.Event,
        stop: anyio.Event,
    ) -> None:
        """Run the MCP session manager and the HTTP server (then set ``started``) until
        ``stop`` is set.

        Shielded and bounded on the way out: the server is gone when this returns.
        """
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as tg:  # hosts the HTTP server
                try:
                    async with server.session_manager.run():
                        await http.start(tg)
                        started.set()
                        await stop.wait()
                        self.tokens.clear()
                        http.request_stop()
                    # Leaving the session manager ended every MCP session, which closed
                    # the streams clients hold open: the server can now stop quickly.
                finally:
                    await http.wait_stopped()

    async def _revoke_closed_sessions(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Revoke a session's token when it closes or fails."""
        from aegis.events import StateChanged

        sessions = self.runtime.sessions
        # The receive side is closed here too: the session manager closes only its sending side.
        with sessions.subscribe() as events, events:
            task_status.started()
            async for handle, event in events:
                if not isinstance(event, StateChanged) or event.state not in ("closed", "failed"):
                    continue
                # The event may arrive after a new session of the same handle was
                # opened (a resume); that one's token stays valid.
                try:
                    live = sessions.get(handle).state.live
                except LookupError:
                    live = False
                if not live:
                    self.tokens.revoke(handle)

    def _run_in_background(self, work: Callable[[], Awaitable[Any]], name: str) -> None:
        if self._background is None:
            raise RuntimeError("the MCP plane is not running")

        async def guarded() -> None:
            try:
                await work()
            except Exception:  # background work must not take the plane down
                log.exception("background work %s failed", name)

        self._background.start_soon(guarded, name=name)

    # --- MCP requests -----------------------------------------------------------------------

    async def _list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        from mcp import types

        assert self.registry is not None
        return types.ListToolsResult(tools=self.registry.describe())

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        from aegis.mcp.identity import caller_of
        from aegis.mcp.tools import error_result

        assert self.registry is not None
        grant = caller_of(ctx, self.tokens)
        if grant is None:  # revoked while the request was on its way
            return error_result("your aegis token is no longer valid: your session has ended")
        runtime = self.runtime
        context = ToolContext(
            grant.handle,
            grant.profile,
            sessions=runtime.sessions,
            inbox=runtime.inbox,
            queues=runtime.queues,
            workflows=runtime.workflows,
            project_root=runtime.project.root,
            _background=self._run_in_background,
        )
        log.debug("%s calls %s", grant.handle, params.name)
        try:
            return await self.registry.call(params.name, dict(params.arguments or {}), context)
        except Exception:  # the registry reports tool failures itself; this is a last resort
            log.exception("calling tool %s for %s failed", params.name, grant.handle)
            return error_result(f"{params.name} failed with an internal error; see the aegis log")
