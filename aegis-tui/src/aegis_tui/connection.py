"""How the TUI reaches the project's daemon: one client code path, two ways to get a client.

:class:`AttachDaemon` (a bare ``aegis``) is a client of the daemon that runs for the
project, started in the background when none answers: quitting the TUI detaches,
and the agents go on. :class:`HostDaemon` (``aegis --no-daemon``, and the tests)
runs an :class:`aegis.daemon.service.Daemon` inside the TUI's own process, on its
event loop, for as long as the TUI runs: the TUI talks to it through the same
socket and protocol, and quitting stops it (every session closes). A project can
have one daemon only, so hosting one where another already runs is an error that
says what to do.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Protocol

import anyio

from aegis.config.loader import Project
from aegis.daemon.client import DaemonClient, DaemonError, DaemonNotRunning

if TYPE_CHECKING:
    from aegis.runtime import Runtime

CLIENT_NAME = f"tui:{os.getpid()}"
"""This TUI's name among the daemon's attached clients (each TUI its own: stopping
everything leaves the daemon running while another client is attached)."""

SENDER = f"client:{CLIENT_NAME}"
"""Who the daemon says started the sessions this TUI spawns (this TUI and no other:
the daemon's list of sessions brings the others' as tabs, not these)."""

HOST_START_TIMEOUT = 60.0
"""Seconds a hosted daemon may take to answer."""


class Connection(Protocol):
    """Gives the TUI a client of the project's daemon for as long as it runs."""

    hosted: bool
    """Whether the daemon lives in the TUI's process (quitting stops it and its agents)."""

    def open(self, project: Project) -> AbstractAsyncContextManager[DaemonClient]: ...


class AttachDaemon:
    """The daemon of the project, started in the background when none answers."""

    hosted = False

    @asynccontextmanager
    async def open(self, project: Project) -> AsyncIterator[DaemonClient]:
        from aegis.cli._client import project_daemon

        # Quiet: a note on stderr would land on the TUI's screen.
        yield await project_daemon(project, name=CLIENT_NAME, quiet=True)


class AttachClient:
    """A client given ready-made (a daemon the caller runs: tests, embedding)."""

    hosted = False

    def __init__(self, client: DaemonClient) -> None:
        self.client = client

    @asynccontextmanager
    async def open(self, project: Project) -> AsyncIterator[DaemonClient]:
        yield self.client


class HostDaemon:
    """A daemon run in this process while the TUI runs (``--no-daemon``).

    ``runtime`` builds the runtime it serves (default: the project's, whole).
    """

    hosted = True

    def __init__(self, runtime: Callable[[Project], Runtime] | None = None) -> None:
        self.runtime = runtime

    @asynccontextmanager
    async def open(self, project: Project) -> AsyncIterator[DaemonClient]:
        async with hosted_daemon(project, self.runtime) as client:
            yield client


@asynccontextmanager
async def hosted_daemon(
    project: Project, runtime: Callable[[Project], Runtime] | None = None
) -> AsyncIterator[DaemonClient]:
    """Run a daemon for ``project`` in this process (on the running event loop) and
    yield a client of it; leaving stops it (its sessions close, its agents stop).

    Raises :class:`DaemonError` when a daemon already runs for the project.
    """
    from aegis.daemon.lock import AlreadyRunning
    from aegis.daemon.service import Daemon

    client = DaemonClient(project.state_dir, name=CLIENT_NAME)
    try:
        status = await client.status()
    except DaemonNotRunning:
        pass
    else:
        raise _already_running(status.get("pid"))
    daemon = Daemon(
        project, idle_timeout=0, runtime=runtime(project) if runtime is not None else None
    )
    async with anyio.create_task_group() as tg:

        async def serve() -> None:
            try:
                await daemon.run()
            except AlreadyRunning as exc:  # one started between the look above and now
                raise _already_running(exc.pid) from None

        tg.start_soon(serve)
        with anyio.fail_after(HOST_START_TIMEOUT):
            while True:
                try:
                    await client.status()
                    break
                except DaemonNotRunning:
                    await anyio.sleep(0.01)
        try:
            yield client
        finally:
            daemon.stop("its TUI quit")


def _already_running(pid: object) -> DaemonError:
    return DaemonError(
        f"an aegis daemon already runs for this project (pid {pid or '?'})",
        hint="a bare `aegis` attaches to it; or stop it first: `aegis daemon stop`",
        code="already_running",
    )
