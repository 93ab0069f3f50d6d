"""The SessionManager: spawn, send, drain, interrupt and close sessions of agent profiles."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from aegis import hookspecs
from aegis.approvals import ApprovalRegistry, PermissionGate
from aegis.config.agent import Agent, check_workspace
from aegis.config.loader import Project
from aegis.driver import McpServer, SessionOptions
from aegis.errors import ConfigError, DriverError, StateError, WorkspaceError
from aegis.events import Event, TurnEnd
from aegis.lifespan import Lifespan
from aegis.notify import events as notifications
from aegis.plugins import get_host
from aegis.private_files import unusable, write_private
from aegis.project_files import CONFIG_NAME, STATE_DIR_NAME
from aegis.session import handles
from aegis.session.info import SessionInfo, SessionState
from aegis.session.session import Delivery, Session
from aegis.session.transcript import TranscriptWriter, last_seq
from aegis.text import clean_text
from aegis.workspace.worktree import WorktreeRecord, Worktrees

if TYPE_CHECKING:
    from aegis.notify import Notifier

log = logging.getLogger("aegis.session")

RELEASE_TIMEOUT_S = 60.0
"""How long saving a closed session's worktree (a commit, a diff stat) may take."""

CLOSE_ALL_TIMEOUT_S = 30.0
"""How long leaving the manager waits for its sessions to end (each CLI gets a few
seconds to exit before its process group is killed, so this is a last resort)."""

Subscriber = tuple[str | None, MemoryObjectSendStream[tuple[str, Event]]]
NumberedSubscriber = MemoryObjectSendStream[tuple[str, int, Event]]


class UnknownSession(LookupError):
    """No session has this handle."""


class SessionClosed(RuntimeError):
    """The session has ended (closed or failed) and takes no more messages."""


class SessionManager(Lifespan):
    """Owns every session of one aegis process, in one task group.

    Use it as an async context manager; leaving it closes every session (and
    stops every CLI process group)::

        async with SessionManager.for_project(project) as sessions:
            handle = await sessions.spawn("reviewer")
            end = await sessions.request(handle, "Review the diff", sender="user")

    ``env`` is added to every CLI's environment (tests point the CLIs at a fake
    model this way); ``mcp_servers`` and ``preamble`` let the MCP plane give each
    session its tools and tell the agent who it is.
    """

    def __init__(
        self,
        agents: Mapping[str, Agent],
        *,
        root: Path,
        state_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
        mcp_servers: Callable[[str, str], Sequence[McpServer]] | None = None,
        preamble: Callable[[str, str], str | None] | None = None,
    ) -> None:
        self.agents = dict(agents)
        self.root = root
        self.state_dir = state_dir or root / STATE_DIR_NAME
        self.sessions_dir = self.state_dir / "sessions"
        self.env = dict(env or {})
        self._mcp_servers = mcp_servers
        self._preamble = preamble
        self._sessions: dict[str, Session] = {}
        self._subscribers: list[Subscriber] = []
        self._numbered: list[NumberedSubscriber] = []
        self._transcripts = TranscriptWriter(self.transcript_path)
        self._tg: TaskGroup | None = None
        self.worktrees = Worktrees(root, self.state_dir)
        """The git worktrees of the sessions whose workspace is one."""
        self.notifier: Notifier | None = None
        """Told when a session fails (the runtime sets it)."""
        self.approvals = ApprovalRegistry()
        """The permission requests of the sessions waiting for a person."""
        self.on_turn: Callable[[SessionInfo, TurnEnd], None] | None = None
        """Called on the event loop as each turn ends (the runtime's usage recorder)."""

    @classmethod
    def for_project(cls, project: Project, **kwargs: Any) -> SessionManager:
        """A manager for the agents and state folder of ``project``."""
        return cls(project.agents, root=project.root, state_dir=project.state_dir, **kwargs)

    # --- lifetime -----------------------------------------------------------------------

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        self._transcripts.start()
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                try:
                    yield
                finally:
                    with anyio.CancelScope(shield=True):
                        await self.close_all()
        finally:
            self._tg = None
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._transcripts.close)

    async def close_all(self) -> None:
        """Close every session (concurrently) and wait until they are all gone.

        Bounded: a session that has not ended ``CLOSE_ALL_TIMEOUT_S`` seconds after
        being told to is logged and left, so that a stop can never hang; its CLI's
        process group is still stopped when its task ends with the task group.
        """
        sessions = [s for s in self._sessions.values() if not s.finished.is_set()]
        for session in sessions:
            session.scope.cancel()
        with anyio.move_on_after(CLOSE_ALL_TIMEOUT_S):
            for session in sessions:
                await session.finished.wait()
        for session in sessions:
            if not session.finished.is_set():
                log.error("session %s did not end when closed; leaving it", session.handle)

    # --- sessions -------------------------------------------------------------------------

    async def spawn(
        self,
        profile: str,
        handle: str | None = None,
        *,
        wait: bool = True,
        resume: str | None = None,
        cwd: Path | None = None,
        workspace: str | None = None,
        started_by: str | None = None,
    ) -> str:
        """Start a session of agent ``profile`` and return its handle.

        ``handle`` picks the handle (it must not have been used in this project,
        unless ``resume`` restores that session); by default a new readable one is
        made. With ``wait`` (the default) this returns once the session is ready,
        and raises :class:`~aegis.errors.DriverError` if it could not start;
        otherwise it returns at once and messages wait in the inbox.

        ``cwd`` overrides the profile's working directory. ``workspace`` overrides
        the profile's (``"project"`` or ``"worktree"``): a worktree session works in
        a git worktree of its own (:mod:`aegis.workspace`), made before this returns
        (a :class:`~aegis.workspace.WorkspaceError` if it cannot be); a resumed one
        works in the worktree its conversation ran in. ``started_by`` says who starts
        it (:attr:`SessionInfo.started_by`), known from its first event on.
        """
        if self._tg is None:
            raise RuntimeError("use the SessionManager in an `async with` block")
        agent = self.agents.get(profile)
        if agent is None:
            raise ConfigError(
                f"no agent profile {profile!r}", hint=f"profiles: {', '.join(self.agents)}"
            )
        if handle is not None and handle in self._sessions and self._sessions[handle].state.live:
            raise handles.HandleTaken(f"session {handle!r} is live")
        workspace = workspace or agent.workspace
        check_workspace(workspace, agent.workspace_base)
        from aegis.registry import get_registry

        provider = get_registry().get(agent.harness).provider
        folder = (cwd or agent.cwd or self.root).resolve()
        worktree: WorktreeRecord | None = None
        try:
            handle = handles.allocate(self.sessions_dir, handle, reuse=resume is not None)
            seq = await self._last_seq(handle) if resume is not None else 0
            if workspace == "worktree":
                worktree = await self._worktree(handle, agent, resume)
                folder = self._inside(worktree, folder)
            session = Session(
                handle,
                profile,
                agent,
                folder,
                self._sink,
                seq=seq,
                worktree=worktree,
                started_by=started_by,
            )
            # Written before the session is registered: a spawn that fails here (a
            # full disk) leaves no session that close_all would wait for in vain.
            self._write_meta(session)
        except BaseException as exc:
            if worktree is not None:
                with anyio.CancelScope(shield=True):
                    await self._release(worktree.name, worktree)
            if isinstance(exc, OSError) and not isinstance(exc, StateError):
                # Not the harness's failure: the state folder's, and the CLI says it so.
                raise unusable(self.sessions_dir, exc) from exc
            raise  # .aegis itself is unusable (a StateError): already explained
        env = self.env
        if worktree is not None:
            # An `aegis` command the agent runs in its worktree is one of this project.
            env = {**env, "AEGIS_CONFIG": str(self.root / CONFIG_NAME)}
        servers = tuple(self._mcp_servers(handle, profile)) if self._mcp_servers else ()
        options = SessionOptions(
            cwd=session.cwd,
            emit=session.emit,
            mcp_servers=servers,
            resume=resume,
            env=env,
            preamble=self._preamble(handle, profile) if self._preamble else None,
            diagnostics=session.diagnostics,
            permissions=PermissionGate(
                agent.approvals,
                ask=self.approvals.asker(handle, session.emit),
                trusted=servers,
            ),
        )
        # Registered only now, with nothing left that can fail before its task runs.
        self._sessions[handle] = session
        self._tg.start_soon(self._run, session, provider, options)
        if wait:
            await self.wait_ready(handle)
        return handle

    async def _worktree(self, handle: str, agent: Agent, resume: str | None) -> WorktreeRecord:
        """The worktree of a new session: a new one, or for a resumed conversation the one
        it ran in (its CLI may key conversations by folder, as claude does)."""
        if resume is not None:
            earlier = await anyio.to_thread.run_sync(self.worktrees.of_session, handle)
            if earlier is None:
                earlier = await anyio.to_thread.run_sync(self.worktrees.of_conversation, resume)
            if earlier is not None:
                return await self.worktrees.reuse(earlier, handle)
        return await self.worktrees.create(handle, base=agent.workspace_base)

    def _inside(self, worktree: WorktreeRecord, folder: Path) -> Path:
        """``folder`` (a folder of the project's checkout) at the same place in ``worktree``."""
        try:
            relative = folder.relative_to(worktree.repo)
        except ValueError:
            raise WorkspaceError(
                f"the working directory {folder} is outside the repository {worktree.repo}: "
                "a worktree holds only the repository's files",
                hint="set the profile's cwd inside the repository, or drop workspace='worktree'",
            ) from None
        return worktree.path / relative

    async def _release(self, handle: str, worktree: WorktreeRecord) -> WorktreeRecord:
        """Save the work of ``handle``'s worktree and remove it if it has none (never raises)."""
        try:
            with anyio.fail_after(RELEASE_TIMEOUT_S):
                return await self.worktrees.release(worktree)
        except Exception as exc:  # kept as it is: the next start's sweep tries again
            log.error("could not tidy the worktree of session %s: %s", handle, exc)
            return worktree

    async def _last_seq(self, handle: str) -> int:
        """The number of the last event of ``handle`` so far: a session resumed under
        its earlier handle numbers its events on from there."""
        earlier = self._sessions.get(handle)
        if earlier is not None:
            return earlier.seq
        return await anyio.to_thread.run_sync(last_seq, self.transcript_path(handle))

    async def wait_ready(self, handle: str) -> None:
        """Wait until session ``handle`` has started; raise ``DriverError`` if it failed to."""
        session = self._session(handle)
        while session.state is SessionState.starting:
            await session.changed()
        if session.state is SessionState.failed:
            raise DriverError(session.error or f"session {handle!r} failed to start")

    async def _run(self, session: Session, provider: Any, options: SessionOptions) -> None:
        try:
            with session.scope:
                try:
                    async with provider.open_driver(session.agent, options) as driver:
                        session.driver = driver
                        await driver.start()
                        self._write_meta(session)
                        session.set_state(SessionState.ready)
                        get_host().notify(hookspecs.session_started, session=session.info())
                        await session.serve(driver, lambda end: self._turn_finished(session, end))
                except DriverError as exc:
                    session.fail(str(exc))
                except Exception as exc:
                    log.exception("session %s crashed", session.handle)
                    session.fail(f"{type(exc).__name__}: {exc}")
        finally:
            # Whatever ended the session (close, failure, or the cancellation of
            # everything around it), settle its inbox and tell whoever waits.
            session.driver = None
            if session.state is not SessionState.failed:
                session.set_state(SessionState.closed)
            session.undelivered(
                session.error or "the session was closed before this message was delivered"
            )
            if session.worktree is not None:
                with anyio.CancelScope(shield=True):
                    session.worktree = await self._release(session.handle, session.worktree)
            try:
                self._write_meta(session)
            except OSError:  # a full disk must not keep anyone waiting for the end
                log.exception("cannot write the state of session %s", session.handle)
            session.finished.set()
            info = session.info()
            get_host().notify(hookspecs.session_closed, session=info)
            if info.state is SessionState.failed and self.notifier is not None:
                self.notifier.send(notifications.session_failed(info))

    def _turn_finished(self, session: Session, end: TurnEnd) -> None:
        if self.on_turn is not None:
            try:
                self.on_turn(session.info(), end)
            except Exception:  # an observer must not end the session
                log.exception("recording the turn of %s failed", session.handle)
        get_host().notify(hookspecs.turn_finished, handle=session.handle, turn=end)

    def _session(self, handle: str) -> Session:
        session = self._sessions.get(handle)
        if session is None:
            raise UnknownSession(f"no session {handle!r}")
        return session

    def send(self, handle: str, message: str, sender: str = "user") -> None:
        """Put ``message`` in the inbox of ``handle``; it is delivered in order when ready.

        Returns at once. Raises :class:`UnknownSession` or :class:`SessionClosed`,
        or :class:`~aegis.errors.MessageRefused` when a ``before_send`` hook refuses.
        """
        self._deliver(handle, message, sender)

    async def request(self, handle: str, message: str, sender: str = "user") -> TurnEnd:
        """Send ``message`` and wait for the end of the turn it starts."""
        delivery = self._deliver(handle, message, sender)
        await delivery.done.wait()
        assert delivery.result is not None
        return delivery.result

    def submit(self, handle: str, message: str, sender: str = "user") -> Delivery:
        """:meth:`send`, returning the message's :class:`Delivery`: await its ``done``
        for the end of its turn (its ``result``), or stop it with :meth:`withdraw`."""
        return self._deliver(handle, message, sender)

    async def withdraw(self, handle: str, delivery: Delivery) -> None:
        """Stop a message :meth:`submit` returned: taken out of the inbox if it still
        waits, its turn interrupted if it runs, nothing if its turn is over."""
        session = self._session(handle)
        if session.withdraw(delivery) or delivery.done.is_set():
            return
        driver = session.driver
        if session.current is delivery and driver is not None:
            await driver.interrupt()

    def _deliver(self, handle: str, message: str, sender: str) -> Delivery:
        session = self._session(handle)
        if not session.state.live:
            raise SessionClosed(f"session {handle!r} is {session.state.value}")
        # Every message to an agent passes here: text a CLI cannot take (a bad
        # command-line argument's surrogate escapes) is cleaned once, for all writers.
        message = clean_text(get_host().before_send(handle, clean_text(message), sender))
        delivery = Delivery(message, sender)
        session.put(delivery)
        return delivery

    async def drain(self, handle: str, timeout: float | None = None) -> bool:
        """Wait until ``handle`` is idle (ready with an empty inbox, or ended).

        Returns ``False`` if ``timeout`` seconds passed first.
        """
        session = self._session(handle)
        with anyio.move_on_after(math.inf if timeout is None else timeout):
            while not session.idle:
                await session.changed()
            return True
        return False

    async def interrupt(self, handle: str) -> None:
        """Stop the turn ``handle`` is running, if any (waiting messages stay queued)."""
        session = self._session(handle)
        if session.driver is not None and session.state is SessionState.busy:
            await session.driver.interrupt()

    async def close(self, handle: str) -> None:
        """End session ``handle`` and stop its CLI. Closing an ended session does nothing.

        Once it returns, the session's transcript holds every event (a client that
        closed a session through the daemon may read it at once).
        """
        session = self._session(handle)
        session.scope.cancel()
        await session.finished.wait()
        await self.flush_transcripts()

    def list_sessions(self) -> list[SessionInfo]:
        """A snapshot of every session of this manager, in spawn order."""
        return [session.info() for session in self._sessions.values()]

    def known(self, handle: str) -> bool:
        """Whether ``handle`` is a session of this manager or was one in this project."""
        return handle in self._sessions or (self.sessions_dir / handle).is_dir()

    def get(self, handle: str) -> SessionInfo:
        """A snapshot of session ``handle``."""
        return self._session(handle).info()

    def last_seq(self, handle: str) -> int | None:
        """The number of session ``handle``'s last event so far; ``None`` once it has
        ended (all its events are out) or if there is no such session."""
        session = self._sessions.get(handle)
        if session is None or session.finished.is_set():
            return None
        return session.seq

    def diagnostics(self, handle: str) -> str:
        """The last lines the session's CLI wrote to stderr, and aegis's notes."""
        return self._session(handle).diagnostics.tail(200)

    # --- events ---------------------------------------------------------------------------

    @contextmanager
    def subscribe(
        self, handle: str | None = None
    ) -> Iterator[MemoryObjectReceiveStream[tuple[str, Event]]]:
        """A stream of ``(handle, event)`` for one session, or for all when ``handle`` is None."""
        send, receive = anyio.create_memory_object_stream[tuple[str, Event]](math.inf)
        subscriber: Subscriber = (handle, send)
        self._subscribers.append(subscriber)
        try:
            yield receive
        finally:
            self._subscribers.remove(subscriber)
            send.close()

    @contextmanager
    def subscribe_numbered(self) -> Iterator[MemoryObjectReceiveStream[tuple[str, int, Event]]]:
        """A stream of ``(handle, seq, event)`` for every session: each event with its
        number, the one its transcript record carries."""
        send, receive = anyio.create_memory_object_stream[tuple[str, int, Event]](math.inf)
        self._numbered.append(send)
        try:
            yield receive
        finally:
            self._numbered.remove(send)
            send.close()

    def transcript_path(self, handle: str) -> Path:
        """The JSONL transcript of session ``handle`` (written shortly after events come:
        :meth:`flush_transcripts` waits until it holds everything so far; complete once
        :meth:`close` has returned)."""
        return self.sessions_dir / handle / "transcript.jsonl"

    async def flush_transcripts(self) -> None:
        """Return once every event so far is written to its session's transcript."""
        await anyio.to_thread.run_sync(self._transcripts.flush)

    def _sink(self, session: Session, event: Event) -> None:
        self._transcripts.put(session.handle, session.seq, event)
        for wanted, send in self._subscribers:
            if wanted is None or wanted == session.handle:
                send.send_nowait((session.handle, event))
        for numbered in self._numbered:
            numbered.send_nowait((session.handle, session.seq, event))

    def _write_meta(self, session: Session) -> None:
        """``session.json`` beside the transcript: what restoring the session needs."""
        path = self.sessions_dir / session.handle / "session.json"
        data = session.info().as_dict()
        write_private(path, json.dumps(data, indent=1))
