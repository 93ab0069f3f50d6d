"""The MCP plane: the MCP server every session's agent can call, and what each session is told.

The :class:`~aegis.runtime.Runtime` owns one plane. It starts with the
runtime and stops with it; in between it serves MCP over streamable HTTP on
``http://127.0.0.1:<free port>/mcp``. The session manager asks it, for every
session it opens, which MCP servers the agent gets (:meth:`McpPlane.servers_for`:
the plane, under the name ``aegis``, with a bearer token of that session's own)
and what the agent is told first (:meth:`McpPlane.preamble`: its handle, its
profile and its tools).

Lifetime, inside the runtime's structured concurrency::

    enter: socket listening, URL known (returns here) -> in the background: SDK and
           tools loaded -> MCP session manager running -> HTTP server accepting
    exit:  background work cancelled -> every token revoked -> HTTP server stops
           accepting -> MCP sessions end (their open streams close) -> HTTP server gone

Entering does not wait for the server: importing the MCP SDK takes about a second,
and the runtime's first sessions (whose agents take as long to start) need only the
plane's address. An agent that connects before the server serves waits in the
kernel's listen queue and is answered once it does; no request is lost.

Leaving is shielded and bounded (a few seconds at worst), so the server is gone
when the plane has left, even when aegis is being cancelled (Ctrl+C).

The plane is entered after the session manager, the inbox router and the queues and leaves
before them, so a tool call never finds them closed.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
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

BACKLOG = 2048
"""Connections the kernel queues for the plane (uvicorn's own default): agents that
connect while the server still starts wait there."""

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
    "as a message); aegis_list_profiles, aegis_spawn and aegis_close (helper agents of your "
    "own), aegis_group (ask several agents at once and wait for their answers). Messages "
    "from other agents, queues and workflows reach you as new turns that say who sent them."
)


def _load_sdk() -> ToolRegistry:
    """What the server needs that is slow to load: the MCP SDK (about a second of imports),
    uvicorn, and the tools of every plugin. Run in a worker thread."""
    import mcp.server.lowlevel  # noqa: F401

    import aegis.mcp.http
    import aegis.mcp.identity
    import aegis.mcp.session_cap  # noqa: F401
    from aegis.mcp.tools import ToolRegistry

    return ToolRegistry.from_plugins()


LOADING_SWITCH_S = 0.0005
"""The interpreter's switch interval while the SDK loads (the usual one: 5 ms)."""

_switch_lock = threading.Lock()
_loading = 0
_usual_switch_s = 0.0


@contextmanager
def _quick_lock_handover() -> Iterator[None]:
    """While the block runs, threads hand the interpreter lock over after
    :data:`LOADING_SWITCH_S`, not the usual 5 ms.

    The SDK loads in a worker thread for about a second, while the event loop serves
    the runtime's first requests and starts its first agents: each of the loop's
    wake-ups would wait up to the usual interval for the lock. The interval belongs to
    the process: the first of several planes loading at once sets it, the last puts
    the usual one back.
    """
    global _loading, _usual_switch_s
    with _switch_lock:
        if _loading == 0:
            _usual_switch_s = sys.getswitchinterval()
            sys.setswitchinterval(min(_usual_switch_s, LOADING_SWITCH_S))
        _loading += 1
    try:
        yield
    finally:
        with _switch_lock:
            _loading -= 1
            if _loading == 0:
                sys.setswitchinterval(_usual_switch_s)


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
        self._serving: anyio.Event | None = None
        self._listening_since = 0.0

    @property
    def serving(self) -> bool:
        """Whether the server answers requests (it starts a second or so after the plane)."""
        return self._serving is not None and self._serving.is_set()

    async def wait_serving(self) -> None:
        """Return once the server answers requests (connections made before wait in the
        kernel's queue: nobody needs to call this but to measure)."""
        if self._serving is None:
            raise RuntimeError("the MCP plane is not running")
        await self._serving.wait()

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
        """Serve from entering until leaving (see the module documentation for the order).

        Entering returns at once, with :attr:`url` set: the plane's socket listens from
        the start, and the server is started (the SDK imported, the app built) in the
        background. A connection made before the server serves waits in the kernel's
        queue and is answered once it does (:meth:`wait_serving` returns then), so a session
        can be spawned, and its agent can connect, while the SDK is still loading.
        """
        from aegis.mcp.loopback import HOST, bind_local

        # Listening now, not when the server starts: connections made meanwhile queue.
        sock = bind_local(BACKLOG)
        try:
            base_url = f"http://{HOST}:{sock.getsockname()[1]}"
            self._listening_since = time.monotonic()
            stop, serving = anyio.Event(), anyio.Event()
            self._serving = serving
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._serve, sock, base_url, serving, stop)
                try:
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
                    # Reaches the server whether it is still starting or serving.
                    stop.set()
        finally:
            sock.close()  # a no-op once the server has closed it

    async def _serve(
        self, sock: socket.socket, base_url: str, serving: anyio.Event, stop: anyio.Event
    ) -> None:
        """Import the SDK and build the server (the imports in a worker thread: over a
        second of them must not stall the event loop), then serve until ``stop``."""
        # Not cancellable: an import cannot be stopped halfway; it ends within seconds.
        with _quick_lock_handover():
            self.registry = await anyio.to_thread.run_sync(_load_sdk)
        if stop.is_set():
            return
        # The low-level Server, not MCPServer: MCPServer() calls logging.basicConfig(),
        # which would put log lines on the terminal under the TUI. Tools still get the
        # SDK's own schema derivation and argument validation (aegis.mcp.tools).
        from mcp.server.lowlevel import Server

        from aegis import __version__
        from aegis.mcp.http import LocalHttpServer
        from aegis.mcp.identity import StoreTokenVerifier, auth_settings
        from aegis.mcp.loopback import HOST
        from aegis.mcp.session_cap import SessionCap

        server: Server[Any] = Server(
            SERVER_NAME,
            version=__version__,
            instructions=INSTRUCTIONS,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            get_tool_input_schema=self.registry.input_schema,
        )
        app = server.streamable_http_app(
            streamable_http_path=MCP_PATH,
            max_request_body_size=MAX_REQUEST_BYTES,
            session_idle_timeout=SESSION_IDLE_TIMEOUT_S,
            host=HOST,
            auth=auth_settings(base_url),
            token_verifier=StoreTokenVerifier(self.tokens),
        )
        http = LocalHttpServer(SessionCap(app, self.tokens), sock)
        await self._host(server, http, serving, stop)

    async def _host(
        self, server: Any, http: LocalHttpServer, serving: anyio.Event, stop: anyio.Event
    ) -> None:
        """Run the MCP session manager and the HTTP server (then set ``serving``) until
        ``stop`` is set.

        Shielded and bounded on the way out: the server is gone when this returns.
        """
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as tg:  # hosts the HTTP server
                try:
                    async with server.session_manager.run():
                        await http.start(tg)
                        serving.set()
                        log.info(
                            "MCP plane serving (%.2f s after it started listening)",
                            time.monotonic() - self._listening_since,
                        )
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
            terminals=runtime.terminals,
            canvases=runtime.canvases,
            helpers=runtime.helpers,
            questions=runtime.questions,
            _background=self._run_in_background,
        )
        log.debug("%s calls %s", grant.handle, params.name)
        try:
            return await self.registry.call(params.name, dict(params.arguments or {}), context)
        except Exception:  # the registry reports tool failures itself; this is a last resort
            log.exception("calling tool %s for %s failed", params.name, grant.handle)
            return error_result(f"{params.name} failed with an internal error; see the aegis log")
