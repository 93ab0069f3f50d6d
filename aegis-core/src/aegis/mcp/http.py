"""An ASGI app served on 127.0.0.1, as a task of the caller's task group (uvicorn underneath).

uvicorn is made to behave like a well-mannered component of a larger program:

* it serves a socket bound beforehand (:func:`bind_local`), on a port the OS
  picks, so the URL is known before the server starts and no other program can
  take the port in between;
* it leaves signals alone (aegis turns SIGINT and SIGTERM into cancellation of
  its own task group; uvicorn would otherwise install handlers of its own);
* it leaves logging alone (no ``dictConfig``) and logs no access lines;
* it stops when asked (:meth:`LocalHttpServer.request_stop`), not when cancelled,
  and :meth:`LocalHttpServer.wait_stopped` (which its owner always calls, shielded)
  gives open connections a grace period before it forces them closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import anyio
import uvicorn
from anyio.abc import TaskGroup

from aegis.mcp.loopback import HOST, bind_local

__all__ = ["GRACE_S", "HOST", "LocalHttpServer", "bind_local"]

GRACE_S = 3.0
"""How long stopping waits for open connections before closing them anyway."""


class _Server(uvicorn.Server):
    _wake: asyncio.Event | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # aegis owns SIGINT/SIGTERM (see aegis.cli._runtime): a stop comes from
        # request_stop(), never from a signal handler installed behind its back.
        yield

    async def main_loop(self) -> None:
        # uvicorn's own loop looks at should_exit every 0.1 s: woken by stop() instead,
        # a stopping runtime does not wait for the next look. A tick every second
        # still refreshes the Date header (on_tick does that at each tenth count).
        self._wake = asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            counter += 10
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)

    def stop(self) -> None:
        """Ask the server to stop (its loop wakes at once)."""
        self.should_exit = True
        if self._wake is not None:
            self._wake.set()


class LocalHttpServer:
    """Serves ``app`` on ``sock`` (from :func:`bind_local`) while started; owns ``sock``."""

    def __init__(self, app: Any, sock: socket.socket) -> None:
        self._socket = sock
        self.port: int = sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            lifespan="off",  # the app's lifespan is entered by its owner, in its own order
            log_config=None,
            access_log=False,
            ws="none",
            server_header=False,
            timeout_graceful_shutdown=int(GRACE_S),
        )
        self._server = _Server(config)
        self._done = anyio.Event()
        self._scope = anyio.CancelScope(shield=True)
        self._failure: BaseException | None = None
        self._started = False

    async def start(self, tg: TaskGroup) -> None:
        """Start serving in ``tg``; return once connections are accepted."""
        self._started = True
        tg.start_soon(self._serve)
        while not self._server.started:
            if self._done.is_set():
                raise RuntimeError(f"the MCP plane's HTTP server did not start: {self._failure!r}")
            await anyio.sleep(0.005)

    async def _serve(self) -> None:
        try:
            # Shielded: uvicorn only shuts down cleanly (listeners and connections
            # closed) when asked to, so it stops on request_stop(), never on a
            # cancellation from outside; wait_stopped() cancels this scope as a last resort.
            with self._scope:
                await self._server.serve(sockets=[self._socket])
        except SystemExit as exc:
            # uvicorn exits the process when its startup fails; here that is one
            # component failing to start, reported by start().
            self._failure = exc
        finally:
            self._done.set()
            self._socket.close()

    def request_stop(self) -> None:
        """Stop accepting connections and start closing the open ones (returns at once)."""
        self._server.stop()

    async def wait_stopped(self) -> None:
        """Wait until the server has stopped; after the grace period, close what is left."""
        if not self._started:
            return
        self.request_stop()
        with anyio.move_on_after(GRACE_S + 1):
            await self._done.wait()
            return
        self._server.force_exit = True
        with anyio.move_on_after(1):
            await self._done.wait()
            return
        self._scope.cancel()
        await self._done.wait()
