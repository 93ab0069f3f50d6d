"""The daemon's life: the lock, the socket, the runtime, the API, and the idle exit.

:class:`Daemon` runs one project's runtime (an :class:`aegis.runtime.Runtime`)
behind ``.aegis/daemon.sock`` until it is stopped (``POST /v1/daemon/stop``, or its
caller cancels it, as ``aegis daemon run`` does on SIGINT, SIGTERM and SIGHUP) or has
been idle for ``idle_timeout`` seconds: no live session (a queue's warm workers do not
count), no open terminal, no queued or running task, no running workflow, no attached
client and no request in flight. Stopping closes the event streams, stops serving, then stops the
runtime (which closes every session and stops every agent process).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from aegis import __version__
from aegis.config.loader import Project
from aegis.daemon import crashes
from aegis.daemon.feed import ENDED_STATES, EventFeed
from aegis.daemon.lock import DaemonLock
from aegis.daemon.protocol import config_digest, lock_path, socket_path
from aegis.daemon.runs import WorkflowRuns
from aegis.daemon.unixpath import reachable
from aegis.events import Event, StateChanged
from aegis.private_files import private_dir
from aegis.process import TAG_PREFIX, kill_tag_prefix
from aegis.queue import leftovers
from aegis.queue.owner import current_owner

if TYPE_CHECKING:
    from aegis.runtime import Runtime

log = logging.getLogger("aegis.daemon")

BACKLOG = 2048
"""Connections the kernel queues while the daemon starts (uvicorn's own default)."""

IDLE_CHECK_S = 1.0
"""How often (at most) the daemon looks whether it is idle."""

SOCKET_CHECK_S = 2.0
"""How often the daemon checks that its socket file is still there."""


@dataclass(eq=False)
class Attached:
    """A client with an open event stream."""

    name: str
    handle: str
    since: float = field(default_factory=time.time)


class Daemon:
    """One project's runtime behind its Unix socket.

    ``idle_timeout``: seconds of idleness after which the daemon exits (``0``: never).
    ``runtime``: the runtime to serve (default: the project's, with every part); a
    frontend hosting the daemon in its own process, or a test, may pass its own.
    """

    def __init__(
        self, project: Project, *, idle_timeout: float, runtime: Runtime | None = None
    ) -> None:
        from aegis.runtime import Runtime

        self.project = project
        self.state_dir = project.state_dir
        self.socket_path = socket_path(self.state_dir)
        self.idle_timeout = idle_timeout
        self.runtime = runtime if runtime is not None else Runtime(project)
        self.feed = EventFeed(self.runtime.sessions)
        self.runs = WorkflowRuns(self.runtime.workflows)
        self.started_at = time.time()
        self.config_digest = config_digest(project.path)
        """Of the ``.aegis.py`` this daemon loaded: a client whose file differs says so."""
        self.attached: list[Attached] = []
        self.requests = 0
        """Requests being served now (event streams included)."""
        self.stopping = anyio.Event()
        self.serving = anyio.Event()
        """Set once the socket answers (the runtime has started)."""
        self.stop_reason = ""
        self.previous_crash: crashes.Report | None = None
        """What the previous daemon interrupted, when it stopped unexpectedly."""
        self._live: dict[str, str] = {}
        """The live sessions (handle: profile), as .aegis/daemon.json records them."""
        self._streams: set[anyio.CancelScope] = set()

    def stop(self, reason: str) -> None:
        """Ask the daemon to stop (returns at once)."""
        if not self.stopping.is_set():
            self.stop_reason = reason
            self.stopping.set()

    @contextmanager
    def stream(self, client: str, handle: str) -> Iterator[anyio.CancelScope]:
        """Count an event stream as an attached client; the scope is cancelled at stop."""
        attached = Attached(client, handle)
        scope = anyio.CancelScope()
        self.attached.append(attached)
        self._streams.add(scope)
        try:
            yield scope
        finally:
            self.attached.remove(attached)
            self._streams.discard(scope)

    async def run(self) -> str:
        """Serve until stopped or idle; return why it stopped."""
        from aegis.daemon.routes import build_app
        from aegis.mcp.http import LocalHttpServer

        _private_dir(self.state_dir)
        lock = DaemonLock(lock_path(self.state_dir))
        await anyio.to_thread.run_sync(lock.acquire)
        in_order = False
        try:
            sock = _bind(self.socket_path)
            try:
                # The lock is ours: a record left in .aegis is a dead daemon's.
                previous = await anyio.to_thread.run_sync(crashes.read_state, self.state_dir)
                if previous is not None:
                    await _stop_what_was_left(previous)
                # And what `aegis worker`s of this host killed with kill -9 left.
                await anyio.to_thread.run_sync(leftovers.sweep, self.state_dir)
                await self._write_state()
                # Subscribed before the runtime starts: the feed must see every event of
                # every session from its first (queue workers may start at once).
                with (
                    self.runtime.sessions.subscribe_numbered() as events,
                    self.runtime.sessions.subscribe() as lives,
                ):
                    async with self.runtime, anyio.create_task_group() as tg:
                        tg.start_soon(self.feed.run, events)
                        tg.start_soon(self.runs.run)
                        tg.start_soon(self._track_live_sessions, lives)
                        if previous is not None:
                            await self._report_crash(previous)
                        server = LocalHttpServer(build_app(self), sock)
                        try:
                            await server.start(tg)
                            log.info(
                                "aegis %s daemon (pid %d) serving %s on %s",
                                __version__,
                                os.getpid(),
                                self.project.root,
                                self.socket_path,
                            )
                            tg.start_soon(self._watch_idle)
                            tg.start_soon(self._watch_socket, os.stat(self.socket_path).st_ino)
                            self.serving.set()
                            await self.stopping.wait()
                        finally:
                            with anyio.CancelScope(shield=True):
                                log.info("stopping: %s", self.stop_reason or "a signal")
                                for scope in list(self._streams):
                                    scope.cancel()
                                await server.wait_stopped()
                            tg.cancel_scope.cancel()
                in_order = True
            except anyio.get_cancelled_exc_class():
                in_order = True  # stopped by a signal: the runtime stopped in order
                raise
            finally:
                sock.close()
                self.socket_path.unlink(missing_ok=True)
        finally:
            if in_order:
                crashes.remove_state(self.state_dir)
            lock.release()
            log.info("stopped")
        return self.stop_reason

    async def _write_state(self) -> None:
        """Rewrite .aegis/daemon.json: who this daemon is, and its live sessions."""
        record = {
            "pid": os.getpid(),
            "owner": current_owner(),
            "started_at": self.started_at,
            "aegis_version": __version__,
            "process_tag_prefix": TAG_PREFIX,
            "live": dict(self._live),
        }
        try:
            await anyio.to_thread.run_sync(crashes.write_state, self.state_dir, record)
        except OSError as exc:
            # A full disk must not stop the daemon: only the report after a crash of
            # this daemon would miss these sessions.
            log.warning("cannot record the live sessions in %s: %s", crashes.STATE_NAME, exc)

    async def _track_live_sessions(
        self, stream: MemoryObjectReceiveStream[tuple[str, Event]]
    ) -> None:
        """Keep the live sessions in .aegis/daemon.json, for the next daemon to report
        if this one dies."""
        ended: set[str] = set()
        async for handle, event in stream:
            if isinstance(event, StateChanged) and event.state in ENDED_STATES:
                ended.add(handle)
                if self._live.pop(handle, None) is None:
                    continue
            elif handle in self._live or handle in ended:
                continue
            else:
                self._live[handle] = self.runtime.sessions.get(handle).profile
            await self._write_state()

    async def _report_crash(self, previous: dict[str, Any]) -> None:
        """Put together (and log) what the dead daemon of ``previous`` interrupted, once
        the runtime's recovery has ended its tasks and workflow runs."""
        from aegis.queue.backend import INTERRUPTED
        from aegis.workflow.runner import STALE_RUN, RunStatus, load_runs

        tasks = [
            task
            for task in await self.runtime.queues.list_tasks(status="failed", limit=None)
            if task.error == INTERRUPTED
        ]
        runs = [
            run
            for run in await anyio.to_thread.run_sync(load_runs, self.state_dir)
            if run.status is RunStatus.crashed and run.error == STALE_RUN
        ]
        self.previous_crash = crashes.report(previous, tasks, runs)
        log.warning("%s", crashes.notice(self.previous_crash))

    async def idle(self, *, serving: int = 0) -> bool:
        """Whether nothing would be lost if the daemon stopped now (``serving``: requests
        in flight not to count, the one asking among them)."""
        if self.attached or self.requests > serving or self.runs.running:
            return False
        # An open terminal is a place people and agents come back to: kept until closed.
        if any(info.alive for info in self.runtime.terminals.list()):
            return False
        # A queue's warm workers wait for tasks that may never come: not work to keep.
        warm = self.runtime.queues.warm_workers()
        sessions = self.runtime.sessions.list_sessions()
        if any(info.state.live and info.handle not in warm for info in sessions):
            return False
        counts = await self.runtime.queues.counts()
        return not any(
            counts.get(queue, {}).get(status, 0)
            for queue in self.project.queues
            for status in ("queued", "running")
        )

    async def _watch_idle(self) -> None:
        if not self.idle_timeout:
            return
        idle_since: float | None = None
        while True:
            await anyio.sleep(min(IDLE_CHECK_S, self.idle_timeout / 4))
            if not await self.idle():
                idle_since = None
                continue
            now = time.monotonic()
            if idle_since is None:
                idle_since = now
            elif now - idle_since >= self.idle_timeout:
                self.stop(f"idle for {self.idle_timeout:g} s")
                return

    async def _watch_socket(self, inode: int) -> None:
        """Stop when the socket file is gone or replaced: no client could reach the daemon
        again (its project folder was deleted or unmounted, or someone removed the file),
        and it would otherwise run on unseen, holding its agents."""
        while True:
            await anyio.sleep(SOCKET_CHECK_S)
            try:
                now = await anyio.to_thread.run_sync(os.stat, self.socket_path)
            except FileNotFoundError:
                self.stop(f"its socket {self.socket_path} was removed")
                return
            except OSError:
                continue  # unreadable for a moment: not proof that it is gone
            if now.st_ino != inode:
                self.stop(f"its socket {self.socket_path} was replaced")
                return


async def _stop_what_was_left(previous: dict[str, Any]) -> None:
    """Stop the agents (and whatever they ran) of a daemon that died without stopping
    them: a harness in the middle of a turn does not notice that its standard input
    closed, and would go on, unseen, until its model requests give up."""
    prefix = previous.get("process_tag_prefix")
    if not isinstance(prefix, str) or not prefix:
        return
    left = await anyio.to_thread.run_sync(kill_tag_prefix, prefix)
    if left:
        log.warning(
            "stopped %d process%s the previous daemon (pid %s) left running",
            len(left),
            "" if len(left) == 1 else "es",
            previous.get("pid", "?"),
        )


def _private_dir(path: Path) -> None:
    """``.aegis`` readable by its owner only: the socket's file mode is the authentication."""
    private_dir(path)


def _bind(path: Path) -> socket.socket:
    """A Unix socket bound at ``path`` with mode 0600, listening (the lock is held: a
    file left there is a dead daemon's).

    Listening from the start: a client that connects while the runtime and the HTTP
    server start waits in the kernel's queue and is answered once they serve, instead
    of being refused and trying again later.
    """
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with reachable(path) as address:
            sock.bind(address)
        os.chmod(path, 0o600)
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock
