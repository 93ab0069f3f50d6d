"""The aegis Textual application: tabs of the sessions of one project's daemon.

The app is a client of the project's daemon (:mod:`aegis_tui.connection`): it
attaches to the daemon that runs (or hosts one in its own process with
``--no-daemon``) and renders nothing but the canonical events the daemon streams.
Each tab is one live session of the daemon, whoever started it (the TUI, ``aegis
ask``, ``chat``, a workflow): its transcript from its first event (a Line API
view), its state dot, its unseen-output marker; queue workers show in the queue
dashboard. The tabs are remembered in ``.aegis/tui.json``: the next time aegis
opens in the project, a tab whose session still runs is attached to again, and one
whose session has ended is resumed; a shared terminal's tab opens again if the
daemon still runs the terminal. Quitting detaches: the agents go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import suppress
from typing import Any, ClassVar

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from textual.app import App
from textual.binding import BindingType
from textual.css.query import NoMatches
from textual.messages import ExitApp
from textual.widgets import ContentSwitcher

from aegis.config.loader import Project
from aegis.daemon.client import (
    DaemonClient,
    DaemonError,
    Numbered,
    RunEnd,
    RunSession,
    SessionSummary,
    StreamEnd,
)
from aegis.events import SessionStarted, StateChanged, TurnEnd
from aegis.notify import Notification
from aegis.workflow.registry import get_workflow
from aegis.workflow.runner import RunRecord
from aegis.workspace import Worktrees
from aegis_tui import notifications
from aegis_tui.connection import SENDER, AttachDaemon, Connection
from aegis_tui.daemon_queues import DaemonQueues
from aegis_tui.keys import APP_KEYS, SHELL_TAKES, TERMINAL_FOOTER, footer_keys, read_alt_keys
from aegis_tui.needs_you import what_it_asks
from aegis_tui.quitting import Running, running_in, stop_everything
from aegis_tui.screens.ask_text import AskText
from aegis_tui.screens.broken_state import BrokenStateScreen
from aegis_tui.screens.canvas import CanvasScreen
from aegis_tui.screens.close_terminal import CloseTerminal
from aegis_tui.screens.confirm import Confirm
from aegis_tui.screens.diff import DiffScreen
from aegis_tui.screens.help import HelpScreen
from aegis_tui.screens.main import MainScreen
from aegis_tui.screens.needs_you import NeedsYouScreen, waiting_in
from aegis_tui.screens.pick import Pick
from aegis_tui.screens.profiles import ProfilePicker
from aegis_tui.screens.queues import QueueDashboard, QueueSource
from aegis_tui.screens.quit import QuitChoice
from aegis_tui.screens.workflows import WorkflowRuns
from aegis_tui.state import (
    BrokenState,
    TabRecord,
    TuiState,
    load_state,
    save_state,
    set_aside,
    state_path,
)
from aegis_tui.tab import Clock, Tab, terminal_tab
from aegis_tui.terminal_tabs import NEW_TERMINAL, new_terminal_name, terminal_choices
from aegis_tui.widgets.approval import ApprovalPrompt
from aegis_tui.widgets.key_bar import KeyBar
from aegis_tui.widgets.prompt import PromptInput
from aegis_tui.widgets.queue_strip import QueueStrip
from aegis_tui.widgets.queued import QueuedMessages
from aegis_tui.widgets.status import StatusBar
from aegis_tui.widgets.tabs import TabBar
from aegis_tui.widgets.terminal import TerminalView
from aegis_tui.widgets.transcript import TranscriptView
from aegis_tui.widgets.working import WorkingIndicator

log = logging.getLogger("aegis.tui")

SPIN_EVERY = 0.1
"""Seconds between two frames of the working line's spinner."""

QUIT_TIMEOUT = 30.0
"""Seconds quitting waits for what it stops (a hosted daemon, or everything)."""

LOOK_TIMEOUT = 3.0
"""Seconds ctrl+q waits for the daemon to say what runs (then it detaches without asking)."""

WORKFLOW_RUNS_SHOWN = 100
"""The latest workflow runs the workflow view lists."""

WORKER_CLOSE_WAIT = 10.0
"""Seconds opening a finished task's worker as a tab waits for the worker to close."""

NOT_TABS = ("queue:", "workflow:")
"""Sessions started by these are shown where their queue or workflow is, not as tabs."""


def describe(exc: BaseException) -> str:
    """``Type: message`` of the first real error inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, DaemonError):
        return exc.message + (f" ({exc.hint})" if exc.hint else "")
    return f"{type(exc).__name__}: {exc}"


TALK_ERRORS = (DaemonError, OSError)
"""What a request to the daemon may raise: its answer, or a connection that broke."""


def said(exc: BaseException) -> str:
    """What went wrong talking to the daemon, in a line."""
    return exc.message if isinstance(exc, DaemonError) else str(exc) or type(exc).__name__


def is_tab(session: SessionSummary) -> bool:
    """Whether a live session of the daemon shows as a tab (not a queue's worker)."""
    return session.live and not session.started_by.startswith(NOT_TABS)


class AegisApp(App[int]):
    """The aegis terminal UI.

    ``profile`` opens a tab of that profile (beside the restored ones); ``clean``
    starts without restoring. ``connection`` gives the client of the project's
    daemon (default: attach to the running daemon, starting it when none answers).
    The other arguments are seams for tests and benchmarks: ``clock`` gives
    monotonic seconds for the status bar, ``handles`` names new sessions (instead of
    random readable names), ``queue_source`` replaces what the strip and the
    dashboard read, and ``queue_poll`` is how often the strip and the list of the
    daemon's sessions are refreshed (``None``: only when asked).
    """

    TITLE = "aegis"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [key.binding() for key in APP_KEYS]

    def __init__(
        self,
        project: Project,
        *,
        profile: str | None = None,
        clean: bool = False,
        connection: Connection | None = None,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        handles: Iterable[str] | None = None,
        queue_source: QueueSource | None = None,
        queue_poll: float | None = 1.0,
    ) -> None:
        super().__init__()
        read_alt_keys()
        self.project = project
        self.start_profile = profile
        self.clean = clean
        self.connection: Connection = connection or AttachDaemon()
        self.clock = clock
        self.wall_clock = wall_clock
        self.queue_poll = queue_poll
        self.tabs: list[Tab] = []
        self.active = 0
        self.bells = 0
        """How many times the bell rang (a background tab finished a turn, a notification)."""
        self.client: DaemonClient | None = None
        """The client of the daemon (while attached)."""
        self.state_file = state_path(project.state_dir)
        self.startup_error: str | None = None
        self.failure: Exception | None = None
        """Why the app could not attach to its daemon (it exits with status 1)."""
        self._handles: Iterator[str] | None = iter(handles) if handles is not None else None
        self._queue_source = queue_source
        self._views: dict[str, TranscriptView] = {}
        self._terminal_views: dict[str, TerminalView] = {}
        """The view of each terminal tab, by its tab's handle."""
        self._terminal_ids = 0
        self._following: dict[str, anyio.CancelScope] = {}
        """The event stream of each tab's session, and of each watched worker (``watch:``)."""
        self._closed_here: set[str] = set()
        """Sessions whose tab was closed here: the session list does not bring them back."""
        self._tg: TaskGroup | None = None
        """The task group of the attachment: event streams and sends run in it."""
        self._outbox: MemoryObjectSendStream[tuple[Tab, str]]
        self._outbox_out: MemoryObjectReceiveStream[tuple[Tab, str]]
        self._outbox, self._outbox_out = anyio.create_memory_object_stream[tuple[Tab, str]](
            float("inf")
        )
        self._by_handle: dict[str, Tab] = {}
        self._restoring = False
        self._started = False
        self._state_writable = True
        self._stop_everything = False
        self._chrome_due = False
        self._history: list[str] = []
        """The input history (kept here too: the input box is gone when the app stops)."""
        self.main = MainScreen()
        """The screen of the tabs (the widgets below are looked up there, whatever is shown)."""
        # Made in on_mount: an anyio event needs the running loop.
        self._tabs_ready: anyio.Event
        self._stopping: anyio.Event
        self._stopped: anyio.Event
        self._save_wanted: anyio.Event

    # --- layout ------------------------------------------------------------------------------

    def get_default_screen(self) -> MainScreen:
        return self.main

    def on_mount(self) -> None:
        self._tabs_ready, self._stopping = anyio.Event(), anyio.Event()
        self._stopped, self._save_wanted = anyio.Event(), anyio.Event()

    def on_main_screen_ready(self, event: MainScreen.Ready) -> None:
        self._started = True
        self._refresh_chrome()
        self.set_interval(1.0, self._tick)
        self.set_interval(SPIN_EVERY, self._spin)
        self.run_worker(self._serve_as_client(), name="daemon", group="daemon", exit_on_error=False)

    # --- the daemon and its events -----------------------------------------------------------

    @property
    def daemon(self) -> DaemonClient:
        """The client of the daemon (while attached)."""
        if self.client is None:
            raise RuntimeError("not attached to the daemon")
        return self.client

    @property
    def queues(self) -> QueueSource | None:
        """What the queue strip and dashboard read."""
        if self._queue_source is not None:
            return self._queue_source
        return DaemonQueues(self.client) if self.client is not None else None

    async def wait_ready(self) -> None:
        """Wait until the app is attached and the first tabs are open (or start-up failed)."""
        await self._tabs_ready.wait()

    async def _serve_as_client(self) -> None:
        """Be a client of the daemon for the life of the app; detach (or stop) on quit."""
        try:
            async with self.connection.open(self.project) as client:
                self.client = client
                async with anyio.create_task_group() as tg:
                    self._tg = tg
                    tg.start_soon(self._saver)
                    tg.start_soon(self._sender)
                    await self.refresh_queues()  # the strip is filled before any tab opens
                    await self._open_first_tabs()
                    tg.start_soon(self._poll)
                    tg.start_soon(self._watch_sessions)
                    tg.start_soon(notifications.follow, client, self._notified)
                    self._tabs_ready.set()
                    await self._stopping.wait()
                    tg.cancel_scope.cancel()
                if self._state_writable:
                    # Last words: what the next attach or restore will need.
                    await anyio.to_thread.run_sync(save_state, self.state_file, self.snapshot())
                if self._stop_everything:
                    await self._stop_all(client)
        except Exception as exc:
            log.exception("the TUI lost its daemon")
            if not self._tabs_ready.is_set():
                # Not attached at all: the command says why, in the CLI's voice.
                self.failure = exc
                self.exit(1, return_code=1)
            self.startup_error = describe(exc)
            self.notify(f"aegis could not run: {self.startup_error}", severity="error", timeout=30)
        finally:
            self.client = None
            self._tg = None
            self._tabs_ready.set()
            self._stopped.set()

    def _follow(
        self, key: str, handle: str, after: int, on_event: Callable[[Numbered], object]
    ) -> None:
        """Feed ``on_event`` the events of ``handle`` numbered above ``after``, live, until
        the session ends or :meth:`_unfollow` (``key`` names the stream)."""
        if self._tg is None:
            return
        scope = anyio.CancelScope()
        self._following[key] = scope

        async def follow() -> None:
            ended = "lost"  # unless the daemon says why the stream ends
            with scope:
                try:
                    async for item in self.daemon.events(handle, after):
                        if isinstance(item, StreamEnd):
                            ended = item.reason
                            break
                        on_event(item)
                except Exception as exc:  # the daemon went away: say so, keep the transcript
                    log.warning("the events of %s stopped: %s", handle, exc)
                    ended = "lost"
            if self._following.get(key) is scope:
                del self._following[key]
            if scope.cancel_called:
                return  # unfollowed: the tab closed, the view went, or the app detaches
            if ended in ("daemon stopping", "lost") and not self._stopping.is_set():
                self._daemon_gone(handle)

        self._tg.start_soon(follow)

    def _unfollow(self, key: str) -> None:
        scope = self._following.pop(key, None)
        if scope is not None:
            scope.cancel()

    def _daemon_gone(self, handle: str) -> None:
        """The daemon stopped under the session of ``handle`` (``aegis daemon stop``)."""
        tab = self._by_handle.get(handle)
        if tab is None or not tab.live:
            return
        tab.state, tab.error = "failed", "the aegis daemon stopped"
        self._views[handle].note(
            "✖ the aegis daemon stopped: quit and open aegis again to resume", "bold red"
        )
        self._chrome_soon()

    def _on_tab_event(self, tab: Tab, item: Numbered) -> None:
        if self._stopping.is_set() or tab.handle not in self._by_handle:
            return
        event = item.event
        held = list(tab.pending)
        tab.apply(event, self.clock())
        if held and not tab.live:
            self._unsent(tab, held)  # the session ended before they could go
        shown = self._views[tab.handle].add_event(event)
        if isinstance(event, StateChanged) and event.state == "ready" and tab.pending:
            self._send(tab, tab.pending.pop(0))  # the next message the user left waiting
        background = self.tabs.index(tab) != self.active
        if background and shown and not isinstance(event, SessionStarted):
            tab.unseen = True
        if background and isinstance(event, TurnEnd):
            self.ring_bell()
        if isinstance(event, SessionStarted):
            self.save_soon()
        self._chrome_soon()

    def ring_bell(self) -> None:
        """The terminal bell: a tab in the background finished its turn, or the daemon
        sent a notification."""
        self.bells += 1
        self.bell()

    def _notified(self, notification: Notification) -> None:
        """A notification from the daemon: ring, and say what it is."""
        self.ring_bell()
        self.notify(
            notifications.toast(notification),
            severity=notifications.severity(notification),
            timeout=notifications.TOAST_SECONDS,
        )

    # --- opening tabs ------------------------------------------------------------------------

    async def _open_first_tabs(self) -> None:
        state = None if self.clean else await self._load_state()
        if self._stopping.is_set():
            return
        live = {s.handle: s for s in await self.daemon.sessions() if s.live}
        if state is not None:
            self._restoring = True
            try:
                for record in state.tabs:
                    await self._restore_tab(record, live.get(record.handle))
            finally:
                self._restoring = False
            prompt = self.main.query_one(PromptInput)
            prompt.sent = list(state.history)
            prompt.remember("")
            self._history = list(state.history)
        # Every other session of the daemon (started by `aegis ask`, `chat`, another TUI).
        for session in live.values():
            if is_tab(session) and session.handle not in self._by_handle:
                await self._attach_tab(session)
        if state is not None and state.terminals:
            await self._restore_terminal_tabs(state.terminals)
        shown = None
        if state is not None and state.active_terminal is not None:
            shown = self._by_handle.get(f"terminal:{state.active_terminal}")
        if shown is not None:
            self.select_tab(self.tabs.index(shown))
        elif state is not None and self.tabs:
            self.select_tab(min(state.active, len(self.tabs) - 1))
        elif self.tabs:
            self.select_tab(0)
        if self.start_profile is not None:
            await self.open_tab(self.start_profile)
        elif self.clean or not self.tabs:
            await self.open_tab(self.project.default_agent)
        self.save_soon()

    async def _load_state(self) -> TuiState | None:
        try:
            return await anyio.to_thread.run_sync(load_state, self.state_file)
        except BrokenState as exc:
            fresh = await self._ask(BrokenStateScreen(exc.path, exc.reason, root=self.project.root))
            if fresh is None:
                return None  # the app is stopping
            if not fresh:
                self._state_writable = False  # the user keeps the file as it is
                self.exit(1, return_code=1, message=f"{exc.path} is damaged; left as it is")
                self._stopping.set()
                return None
            aside = await anyio.to_thread.run_sync(set_aside, exc.path)
            self.notify(f"Started fresh; the damaged state is kept as {aside}", timeout=8)
            return None

    async def _ask(self, screen: BrokenStateScreen) -> bool | None:
        """Show ``screen`` and wait for its answer; ``None`` when the app stops first."""
        answers: list[bool] = []
        answered = anyio.Event()

        def answer(value: bool | None) -> None:
            answers.append(bool(value))
            answered.set()

        self.push_screen(screen, answer)
        async with anyio.create_task_group() as tg:

            async def stop_asking() -> None:
                await self._stopping.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(stop_asking)
            await answered.wait()
            tg.cancel_scope.cancel()
        return answers[0] if answers else None

    def _new_tab(
        self, handle: str, profile: str, *, provider: str | None = None, model: str | None = None
    ) -> tuple[Tab, TranscriptView]:
        agent = self.project.agents.get(profile)
        tab = Tab(
            handle=handle,
            profile=profile,
            provider=provider or (agent.harness if agent else "?"),
            model=model or (agent.model if agent else None),
            permission=str(agent.permission) if agent else "?",
            opened_at=self.clock(),
        )
        view = TranscriptView(id=f"view-{handle}")
        view.display = False  # until selected: the switcher shows one view at a time
        # Registered before anything awaits: the session list finds the tab there.
        self.tabs.append(tab)
        self._by_handle[handle] = tab
        self._views[handle] = view
        return tab, view

    def _follow_tab(self, tab: Tab, after: int) -> None:
        self._follow(tab.handle, tab.handle, after, lambda item: self._on_tab_event(tab, item))

    async def open_tab(self, profile: str) -> Tab | None:
        """Start a session of ``profile`` in the daemon, in a new tab, and show it."""
        wanted = next(self._handles, None) if self._handles is not None else None
        try:
            session = await self.daemon.spawn(profile, wanted, wait=False, started_by=SENDER)
        except TALK_ERRORS as exc:  # an unknown profile, a taken handle: say it, keep going
            self.notify(f"could not open a {profile} session: {said(exc)}", severity="error")
            return None
        if session.handle in self._by_handle:  # the session list was quicker
            tab = self._by_handle[session.handle]
        else:
            tab, view = self._new_tab(session.handle, profile, provider=session.provider)
            view.note(self.welcome(profile), "")
            await self.main.query_one("#views", ContentSwitcher).mount(view)
            self._follow_tab(tab, 0)
        self.select_tab(self.tabs.index(tab))
        self.save_soon()
        return tab

    async def _attach_tab(self, session: SessionSummary, title: str | None = None) -> Tab:
        """A tab on live session ``session`` of the daemon: its events from the first."""
        tab, view = self._new_tab(
            session.handle, session.profile, provider=session.provider, model=session.model
        )
        tab.title = title
        tab.state = session.state
        if session.started_at is not None:  # its age, not the time since this attach
            tab.opened_at -= max(self.wall_clock() - session.started_at, 0.0)
        await self.main.query_one("#views", ContentSwitcher).mount(view)
        # The whole transcript at once (one layout), then the live events after it.
        try:
            last, _ = await self._replay(tab, view, live=True)
        except TALK_ERRORS as exc:
            view.note(f"✖ could not read its transcript: {said(exc)}", "bold red")
            return tab
        self._follow_tab(tab, last)
        self._chrome_soon()
        return tab

    async def _replay(self, tab: Tab, view: TranscriptView, *, live: bool) -> tuple[int, int]:
        """Lay the events of ``tab``'s session so far into ``view``; the last one's number
        and how many there were.

        ``live``: the session runs, so its events set the tab's state too; otherwise
        they are an earlier run's, counted in the totals only.
        """
        last = count = 0
        async for item in self.daemon.events(tab.handle, 0, follow=False):
            if isinstance(item, Numbered):
                last, count = item.seq, count + 1
                if live:
                    tab.apply(item.event, self.clock())
                else:
                    tab.replay(item.event)
                view.timeline.apply(item.event)
        view.schedule_settle()
        return last, count

    async def _restore_tab(self, record: TabRecord, session: SessionSummary | None) -> None:
        if record.profile not in self.project.agents:
            self.notify(
                f"tab {record.handle} not restored: profile {record.profile!r} "
                "is no longer in .aegis.py",
                severity="warning",
            )
            return
        if session is not None:
            await self._attach_tab(session, record.title)  # it runs on in the daemon
            return
        if record.harness_session_id is None:
            return  # it never started: there is nothing to resume
        tab, view = self._new_tab(record.handle, record.profile)
        tab.harness_session_id = record.harness_session_id
        tab.title = record.title
        await self.main.query_one("#views", ContentSwitcher).mount(view)
        try:
            last, count = await self._replay(tab, view, live=False)
        except TALK_ERRORS as exc:
            last = count = 0
            log.warning("no transcript of %s: %s", record.handle, said(exc))
        if count:
            view.note(f"── {count} events of an earlier run above; resuming the session")
        try:
            await self.daemon.spawn(
                record.profile,
                record.handle,
                wait=False,
                resume=record.harness_session_id,
                started_by=SENDER,
            )
        except TALK_ERRORS as exc:
            tab.state, tab.error = "failed", said(exc)
            view.note(f"✖ could not resume: {said(exc)}", "bold red")
            return
        self._follow_tab(tab, last)

    async def _restore_terminal_tabs(self, names: Sequence[str]) -> None:
        """Open again the tabs of the terminals ``names`` that the daemon still runs (a
        terminal that has ended since is left out, saying so)."""
        if self.client is None:
            return
        try:
            alive = {str(t["name"]) for t in await self.client.terminals() if t["alive"]}
        except TALK_ERRORS as exc:
            self.notify(f"could not list the terminals: {said(exc)}", severity="warning")
            return
        gone = [name for name in names if name not in alive]
        for name in names:
            if name in alive:
                await self.open_terminal_tab(name, select=False)
        if gone:
            self.notify(f"terminal tab not restored (its shell has ended): {', '.join(gone)}")

    # --- the state file ----------------------------------------------------------------------

    def snapshot(self) -> TuiState:
        """What ``tui.json`` should say now."""
        sessions = [t for t in self.tabs if t.terminal is None]
        # Terminals are kept by name: they live in the daemon, and reopen if still there.
        terminals = [t.terminal for t in self.tabs if t.terminal is not None and t.live]
        shown = self.current
        active = sessions.index(shown) if shown in sessions else min(self.active, len(sessions))
        return TuiState(
            tabs=tuple(
                TabRecord(t.handle, t.profile, t.harness_session_id, t.title) for t in sessions
            ),
            active=max(min(active, len(sessions) - 1), 0),
            history=tuple(self._history),
            terminals=tuple(terminals),
            active_terminal=shown.terminal if shown is not None and shown.live else None,
        )

    def save_soon(self) -> None:
        """Write ``tui.json`` soon (writes asked for close together make one)."""
        if not self._restoring and self._state_writable:
            self._save_wanted.set()

    async def _saver(self) -> None:
        while True:
            await self._save_wanted.wait()
            self._save_wanted = anyio.Event()
            try:
                await anyio.to_thread.run_sync(save_state, self.state_file, self.snapshot())
            except OSError as exc:
                self.notify(f"could not save the tabs: {exc}", severity="warning")

    # --- the queue counts (polled) and the daemon's sessions (followed) ---------------------

    async def _poll(self) -> None:
        if self.queue_poll is None:
            return
        while True:
            await anyio.sleep(self.queue_poll)
            await self.refresh_queues()

    async def refresh_queues(self) -> None:
        """Read the queue counts again and redraw the strip."""
        source = self.queues
        strip = self.main.query_one(QueueStrip)
        if source is None:
            return
        try:
            counts = await source.counts()
        except Exception as exc:  # the backend is away: the strip says so, the app goes on
            log.warning("could not read the queue counts: %s", exc)
            return
        today = None
        spent = getattr(source, "today", None)  # the daemon's: what the project spent today
        if spent is not None:
            try:
                today = await spent()
            except Exception as exc:
                log.warning("could not read today's usage: %s", exc)
        strip.show(list(self.project.queues), counts, await self._count_waiting(), today)

    async def _count_waiting(self) -> int:
        """How many approvals and questions wait for a person (0 when it cannot tell);
        the tabs of agents that asked a question are marked."""
        if self.client is None:
            return 0
        try:
            waiting = await waiting_in(self.client)
        except TALK_ERRORS as exc:
            log.warning("could not count what waits for a person: %s", exc)
            return 0
        asking = {w.asker.removeprefix("agent:") for w in waiting if w.kind == "question"}
        for tab in self.tabs:
            if tab.asking != (tab.handle in asking):
                tab.asking = tab.handle in asking
                self._chrome_soon()
        return len(waiting)

    async def _watch_sessions(self) -> None:
        """Open a tab for each session of the daemon started elsewhere, as it appears
        (the stream also keeps the TUI counted among the daemon's attached clients)."""
        try:
            async for item in self.daemon.watch_sessions():
                if isinstance(item, SessionSummary):
                    await self._take(item)
        except TALK_ERRORS as exc:  # the daemon went away: the tabs say so
            log.warning("the daemon's session list stopped: %s", exc)

    async def refresh_sessions(self) -> None:
        """Look at the daemon's sessions once, and open a tab for each new one."""
        if self.client is None or self._stopping.is_set():
            return
        try:
            sessions = await self.client.sessions()
        except TALK_ERRORS as exc:
            log.warning("could not list the daemon's sessions: %s", exc)
            return
        for session in sessions:
            await self._take(session)

    async def _take(self, session: SessionSummary) -> None:
        """A tab for ``session`` if it is a new live one of the daemon, not this TUI's own
        (those it spawns get their tab from :meth:`open_tab`) nor closed here.

        Queue workers and workflow sessions are not tabs: their spawner names them from
        their first event on (``started_by``)."""
        if (
            is_tab(session)
            and session.started_by != SENDER
            and session.handle not in self._by_handle
            and session.handle not in self._closed_here
            and not self._stopping.is_set()
        ):
            await self._attach_tab(session)
            self.save_soon()

    # --- what the user does ------------------------------------------------------------------

    @property
    def current(self) -> Tab | None:
        """The active tab."""
        return self.tabs[self.active] if 0 <= self.active < len(self.tabs) else None

    def view_of(self, tab: Tab) -> TranscriptView:
        """The transcript view of ``tab``."""
        return self._views[tab.handle]

    def select_tab(self, index: int) -> None:
        """Show tab ``index`` (its unseen output is seen now)."""
        if not 0 <= index < len(self.tabs):
            return
        self.active = index
        tab = self.tabs[index]
        tab.unseen = False
        terminal = self._terminal_views.get(tab.handle)
        shown = terminal if terminal is not None else self._views[tab.handle]
        self.main.query_one("#views", ContentSwitcher).current = shown.id
        # A terminal tab takes the keyboard; the input box is for sessions only.
        self.main.set_class(terminal is not None, "-terminal")
        self.main.query_one(KeyBar).set_keys(
            TERMINAL_FOOTER if terminal is not None else footer_keys()
        )
        if terminal is not None:
            terminal.focus()
            self.run_worker(terminal.claim_size(), group="terminal-size")
        elif self.focused is None or isinstance(self.focused, TerminalView):
            self.main.query_one(PromptInput).focus()
        self._refresh_chrome()
        self.save_soon()

    def welcome(self, profile: str) -> str:
        """What a new tab's empty transcript says: the profile, what to try, the others."""
        agent = self.project.agents[profile]
        lines = [f"{profile}: {agent.description}" if agent.description else profile]
        lines.append(
            "Type a message and press enter (ctrl+j for a new line); "
            "escape interrupts the agent while it works."
        )
        others = [name for name in self.project.agents if name != profile]
        if others:
            lines.append(f"Other profiles: {', '.join(others)}; ctrl+n opens a tab of one.")
        lines.append("f1 lists every key and explains the status line.")
        return "\n".join(lines)

    def on_prompt_input_submitted(self, event: PromptInput.Submitted) -> None:
        prompt = event.prompt
        text = event.value
        self._history = list(prompt.sent)
        tab = self.current
        if tab is None or self.client is None or tab.terminal is not None:
            self.notify("No session: ctrl+t opens one", severity="warning")
            prompt.give_back(text)
            return
        if not tab.live:
            self._notify_ended(tab)
            prompt.give_back(text)
            return
        if tab.state == "ready" and not tab.pending:
            self._send(tab, text)
        else:
            # Kept here, not in the session's inbox, until the agent is ready: escape
            # gives it back to the input box instead of sending it after the interrupt.
            tab.pending.append(text)
        self._refresh_chrome()
        self.save_soon()

    def _send(self, tab: Tab, text: str) -> None:
        """Send ``text`` to the session of ``tab`` (in order, through the daemon)."""
        if tab.state == "ready":
            # Busy from now, not from when the daemon says so: what is typed meanwhile
            # is held here like any message typed during a turn.
            tab.apply(StateChanged("busy"), self.clock())
        self._outbox.send_nowait((tab, text))

    async def _sender(self) -> None:
        """Send the messages one by one, in the order they were typed."""
        async for tab, text in self._outbox_out:
            try:
                await self.daemon.send(tab.handle, text, sender="user")
            except TALK_ERRORS as exc:
                if tab.state == "busy" and tab.turn_started is not None:
                    tab.apply(StateChanged("ready"), self.clock())  # no turn started
                if isinstance(exc, DaemonError) and exc.code == "session_ended":
                    self._notify_ended(tab)
                else:
                    self.notify(f"message not sent: {said(exc)}", severity="error")
                if tab is self.current:
                    self.main.query_one(PromptInput).give_back(text)
                self._chrome_soon()

    def _unsent(self, tab: Tab, messages: list[str]) -> None:
        """Say that ``messages`` held for ``tab`` were not sent; the active tab's come
        back to the input box."""
        count = f"{len(messages)} queued message{'s' * (len(messages) > 1)}"
        if tab is self.current:
            self.main.query_one(PromptInput).give_back("\n\n".join(messages))
            self.notify(f"{tab.name} has ended: {count} back in the input box", timeout=8)
        else:
            self.notify(f"{tab.name} has ended: {count} not sent", severity="warning")

    def _notify_ended(self, tab: Tab) -> None:
        self.notify(
            f"{tab.handle} has ended ({tab.state}): ctrl+t opens a new tab", severity="warning"
        )

    def action_answer_request(self) -> None:
        approval = self.main.query_one(ApprovalPrompt)
        if approval.display:
            approval.focus()

    def on_approval_prompt_later(self, event: ApprovalPrompt.Later) -> None:
        self.main.query_one(PromptInput).focus()

    def on_approval_prompt_answered(self, event: ApprovalPrompt.Answered) -> None:
        self.main.query_one(PromptInput).focus()
        self.answer_request(event.request.id, event.decision, what_it_asks(event.request, 60))

    def answer_request(self, approval_id: str, decision: str, what: str) -> None:
        """Send a person's answer to permission request ``approval_id``; a denial first
        asks for the reason the agent is told."""
        if decision != "deny":
            self._send_answer(approval_id, decision, "")
            return

        def reason(text: str | None) -> None:
            if text is not None:
                self._send_answer(approval_id, decision, text.strip())

        self.push_screen(
            AskText(f"Deny {what}", "", "the reason the agent is told (enter sends)"), reason
        )

    def _send_answer(self, approval_id: str, decision: str, reason: str) -> None:
        client, tg = self.client, self._tg
        if client is None or tg is None:
            self.notify("aegis is not attached to its daemon", severity="error")
            return

        async def send() -> None:
            try:
                taken, holding = await client.answer_approval(approval_id, decision, reason)
            except TALK_ERRORS as exc:
                self.notify(f"the answer was not taken: {said(exc)}", severity="error")
                return
            if not taken:
                self.notify(f"already answered: {holding.decision} by {holding.by}", timeout=6)

        tg.start_soon(send)

    def answer_question(self, question_id: str, answer: str) -> None:
        """Send a person's answer to question ``question_id``."""
        client, tg = self.client, self._tg
        if client is None or tg is None:
            self.notify("aegis is not attached to its daemon", severity="error")
            return

        async def send() -> None:
            try:
                await client.answer_question(question_id, answer)
            except TALK_ERRORS as exc:
                self.notify(f"the answer was not taken: {said(exc)}", severity="error")

        tg.start_soon(send)

    def action_needs_you(self) -> None:
        if self.client is None or isinstance(self.screen, NeedsYouScreen):
            return
        self.push_screen(
            NeedsYouScreen(
                self.client,
                answer_request=self.answer_request,
                answer_question=self.answer_question,
                open_tab=self.show_session,
                wall_clock=self.wall_clock,
            )
        )

    def show_session(self, handle: str) -> bool:
        """Show the tab of session ``handle``; whether it has one."""
        tab = self._by_handle.get(handle)
        if tab is None:
            return False
        self.select_tab(self.tabs.index(tab))
        return True

    def on_tab_bar_selected(self, event: TabBar.Selected) -> None:
        self.select_tab(event.index)

    async def action_new_tab(self) -> None:
        if self.client is not None:
            await self.open_tab(self.project.default_agent)

    def action_pick_profile(self) -> None:
        if self.client is None:
            return

        def chosen(profile: str | None) -> None:
            if profile is not None:
                self.run_worker(self.open_tab(profile), group="tabs")

        self.push_screen(ProfilePicker(self.project.agents, self.project.default_agent), chosen)

    def action_close_tab(self) -> None:
        tab = self.current
        if tab is None:
            return
        if tab.terminal is not None:
            self._close_terminal_tab(tab)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_worker(self.close_tab(tab), group="tabs")

        detail = "Its session stops; its transcript stays in .aegis/sessions/."
        self.push_screen(Confirm(f"Close tab {tab.handle} ({tab.profile})?", detail), answered)

    async def close_tab(self, tab: Tab) -> None:
        """Close ``tab`` and stop its session."""
        if tab not in self.tabs:
            return
        self._closed_here.add(tab.handle)
        await self._drop_tab(tab)
        if self.client is not None and tab.live:
            try:
                await self.client.close(tab.handle)
            except TALK_ERRORS as exc:
                self.notify(f"could not close {tab.handle}: {said(exc)}", severity="error")

    async def _drop_tab(self, tab: Tab) -> None:
        """Take ``tab`` away (its session goes on, unless the caller closes it)."""
        index = self.tabs.index(tab)
        self.tabs.remove(tab)
        del self._by_handle[tab.handle]
        self._unfollow(tab.handle)
        view: TranscriptView | TerminalView = (
            self._views.pop(tab.handle)
            if tab.terminal is None
            else self._terminal_views.pop(tab.handle)
        )
        if index < self.active or self.active >= len(self.tabs):
            self.active = max(self.active - 1, 0)
        if self.tabs:
            self.select_tab(self.active)
        else:
            self.main.set_class(False, "-terminal")
            self.main.query_one(KeyBar).set_keys(footer_keys())
            self._refresh_chrome()
        await view.remove()
        self.save_soon()

    def action_next_tab(self) -> None:
        if self.tabs:
            self.select_tab((self.active + 1) % len(self.tabs))

    def action_previous_tab(self) -> None:
        if self.tabs:
            self.select_tab((self.active - 1) % len(self.tabs))

    def action_switch_tab(self, index: int) -> None:
        self.select_tab(index)

    async def action_interrupt(self) -> None:
        tab = self.current
        if tab is None or self.client is None:
            return
        if tab.state != "busy":
            return
        if tab.pending:
            # People interrupt to change direction: what they queued comes back to edit.
            self.main.query_one(PromptInput).give_back("\n\n".join(tab.pending))
            count = len(tab.pending)
            tab.pending.clear()
            self.notify(f"{count} queued message{'s' * (count > 1)} back in the input box")
            self._refresh_chrome()
        self.view_of(tab).note("⊘ interrupting…", "yellow")
        try:
            await self.client.interrupt(tab.handle)
        except TALK_ERRORS as exc:
            self.notify(f"could not interrupt: {said(exc)}", severity="error")

    def action_rename_tab(self) -> None:
        tab = self.current
        if tab is None:
            return

        def renamed(name: str | None) -> None:
            if name is None:
                return
            tab.title = name.strip() or None  # an empty name gives the handle back
            self._refresh_chrome()
            self.save_soon()

        self.push_screen(
            AskText(
                f"Rename tab {self.active + 1} ({tab.handle}, {tab.profile})",
                tab.title or "",
                "an empty name names it by its handle again",
            ),
            renamed,
        )

    def action_toggle_details(self) -> None:
        tab = self.current
        if tab is not None and tab.terminal is None:
            self.view_of(tab).toggle_all()

    def action_scroll_transcript(self, pages: int) -> None:
        tab = self.current
        if tab is None or tab.terminal is not None:
            return
        view = self.view_of(tab)
        if pages < 0:
            view.scroll_page_up(animate=False)
        else:
            view.scroll_page_down(animate=False)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_diff(self) -> None:
        tab = self.current
        if tab is not None and tab.terminal is None:
            self.push_screen(DiffScreen(self.worktrees, tab.handle))

    def action_canvas(self) -> None:
        if self.client is not None and not isinstance(self.screen, CanvasScreen):
            self.push_screen(CanvasScreen(self.client))

    async def action_terminal(self) -> None:
        """A terminal tab: a new terminal when the daemon has none, else pick one (or new)."""
        if self.client is None or self.screen is not self.main:
            return
        try:
            terminals = [t for t in await self.client.terminals() if t["alive"]]
        except TALK_ERRORS as exc:
            self.notify(f"could not list the terminals: {said(exc)}", severity="error")
            return
        names = [str(t["name"]) for t in terminals]
        if not names:
            await self.open_terminal_tab(new_terminal_name(names), new=True)
            return
        tabbed = {t.terminal for t in self.tabs if t.terminal is not None}

        def chosen(choice: str | None) -> None:
            if choice == NEW_TERMINAL:
                self.run_worker(self.open_terminal_tab(new_terminal_name(names), new=True))
            elif choice is not None:
                self.run_worker(self.open_terminal_tab(choice), group="tabs")

        self.push_screen(
            Pick("Terminal tab: enter opens, escape cancels", terminal_choices(terminals, tabbed)),
            chosen,
        )

    async def open_terminal_tab(
        self, name: str, *, new: bool = False, select: bool = True
    ) -> Tab | None:
        """Show shared terminal ``name`` in a tab (the one it has, or a new one); ``new``:
        start it in the daemon first (the person's shell, in the project's folder);
        ``select``: make it the tab shown."""
        handle = f"terminal:{name}"
        if handle in self._by_handle:
            if select:
                self.select_tab(self.tabs.index(self._by_handle[handle]))
            return self._by_handle[handle]
        if self.client is None:
            return None
        if new:
            try:
                await self.client.spawn_terminal(name)
            except TALK_ERRORS as exc:
                self.notify(f"could not start terminal {name}: {said(exc)}", severity="error")
                return None
        tab = terminal_tab(name, self.clock())
        self._terminal_ids += 1
        view = TerminalView(self.client, name, id=f"terminal-view-{self._terminal_ids}")
        view.display = False  # until selected
        self.tabs.append(tab)
        self._by_handle[handle] = tab
        self._terminal_views[handle] = view
        await self.main.query_one("#views", ContentSwitcher).mount(view)
        if select:
            self.select_tab(self.tabs.index(tab))
        else:
            self._refresh_chrome()
        return tab

    def _close_terminal_tab(self, tab: Tab) -> None:
        """Ask, then close ``tab`` (the terminal goes on) or kill its terminal too."""
        name = tab.terminal
        assert name is not None

        async def close(kill: bool) -> None:
            await self._drop_tab(tab)
            if kill and self.client is not None and tab.live:
                try:
                    await self.client.close_terminal(name)
                except TALK_ERRORS as exc:
                    self.notify(f"could not close terminal {name}: {said(exc)}", severity="error")

        def chosen(choice: str | None) -> None:
            if choice is not None:
                self.run_worker(close(choice == "kill"), group="tabs")

        if not tab.live:  # its shell has ended: nothing to keep or kill
            self.run_worker(close(False), group="tabs")
            return
        self.push_screen(CloseTerminal(name), chosen)

    def on_terminal_view_ended(self, event: TerminalView.Ended) -> None:
        """A terminal tab's shell ended (``exit``, an agent closed it, the daemon went)."""
        for handle, view in self._terminal_views.items():
            if view is event.view:
                tab = self._by_handle[handle]
                tab.state, tab.error = "closed", event.reason
                self._chrome_soon()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A terminal tab's shell gets the keys it needs that are the app's elsewhere
        # (ctrl+r: the shell's history search), when its view has the keyboard.
        return not (action in SHELL_TAKES and isinstance(self.focused, TerminalView))

    @property
    def worktrees(self) -> Worktrees:
        """The project's agent worktrees (read directly: no daemon is needed)."""
        return Worktrees(self.project.root, self.project.state_dir)

    def action_queues(self) -> None:
        source = self.queues
        if source is None:
            return
        self.push_screen(
            QueueDashboard(source, list(self.project.queues), wall_clock=self.wall_clock)
        )

    def action_workflows(self) -> None:
        self.push_screen(
            WorkflowRuns(
                self.workflow_runs,
                workflows=list(self.project.workflows),
                sessions=self.run_sessions,
                start=self.start_workflow,
                cancel=self.cancel_workflow,
                resume=self.resume_workflow,
                wall_clock=self.wall_clock,
            )
        )

    # --- quitting: detach, or stop everything --------------------------------------------

    async def action_quit(self) -> None:
        """Detach (the agents go on), asking first when something runs; with a daemon of
        this process (``--no-daemon``), stop it."""
        if self._stopping.is_set() or self.client is None:
            self.exit(0)
            return
        if isinstance(self.screen, QuitChoice):
            self.screen.dismiss("detach")  # ctrl+q twice: the default
            return
        if self.connection.hosted:
            self.notify("closing the sessions…", timeout=QUIT_TIMEOUT)
            await self.leave()
            return
        running = await self.what_runs()
        if running is None or not running:
            await self.leave()
            return

        def chosen(choice: str | None) -> None:
            if choice is not None:
                self.run_worker(self.leave(stop_everything=choice == "stop"), group="quit")

        self.push_screen(QuitChoice(running), chosen)

    async def what_runs(self) -> Running | None:
        """What runs in the daemon now (``None``: it did not say in time)."""
        client = self.client
        if client is None:
            return None
        with anyio.move_on_after(LOOK_TIMEOUT):
            try:
                return await running_in(client)
            except TALK_ERRORS as exc:
                log.warning("could not ask the daemon what runs: %s", exc)
        return None

    async def leave(self, *, stop_everything: bool = False) -> None:
        """Detach from the daemon (or stop everything in it first), then exit."""
        if stop_everything:
            self._stop_everything = True
            self.notify("stopping every session, task and workflow run…", timeout=QUIT_TIMEOUT)
        await self.stop_runtime()
        self.exit(0)

    async def stop_runtime(self) -> None:
        """Stop following the daemon: tabs saved, event streams closed (and, hosted or
        asked to stop everything, the daemon's work stopped)."""
        self._stopping.set()
        with anyio.move_on_after(QUIT_TIMEOUT):
            await self._stopped.wait()

    async def _stop_all(self, client: DaemonClient) -> None:
        """Close every session of the daemon, cancel its tasks and workflow runs, and stop
        it unless another client is attached."""
        with anyio.move_on_after(QUIT_TIMEOUT):
            try:
                await stop_everything(client, self.project.state_dir)
            except TALK_ERRORS as exc:
                log.warning("stopping everything: %s", exc)
                self.notify(f"could not stop everything: {said(exc)}", severity="error")

    async def on_exit_app(self, event: ExitApp) -> None:
        # However the app is left (quit, App.exit), detach before Textual cancels its
        # worker: a hosted daemon must stop in order (its sessions' shielded clean-up
        # does not hold against a task cancel).
        if self._started:
            await self.stop_runtime()

    # --- sessions that are not tabs, and workflow runs ---------------------------------------

    async def watch_session(self, handle: str, view: TranscriptView) -> None:
        """Fill ``view`` with the transcript of session ``handle`` from its first event, and
        go on with its live events until :meth:`unwatch_session`."""
        if self.client is None:
            return
        self._follow(f"watch:{handle}", handle, 0, lambda item: view.add_event(item.event))

    def unwatch_session(self, handle: str) -> None:
        """Stop feeding the view of ``handle`` (its screen closed)."""
        self._unfollow(f"watch:{handle}")

    async def open_session_tab(
        self, handle: str, profile: str, *, ended: bool = False
    ) -> Tab | None:
        """Show session ``handle`` (a queue worker's) in a tab: attached while it runs,
        resumed from its transcript once it has ended (``ended``: its task has, so it
        is closing, and is resumed once closed)."""
        if handle in self._by_handle:
            self.select_tab(self.tabs.index(self._by_handle[handle]))
            return self._by_handle[handle]
        if self.client is None or profile not in self.project.agents:
            return None
        try:
            session: SessionSummary | None = await self.client.session(handle)
            with anyio.move_on_after(WORKER_CLOSE_WAIT):
                while ended and session is not None and session.live:
                    await anyio.sleep(0.1)
                    session = await self.client.session(handle)
        except TALK_ERRORS:
            session = None  # a session of an earlier daemon
        if session is not None and session.live:
            await self._attach_tab(session)
        else:
            started = None
            try:
                async for item in self.client.events(handle, 0, follow=False):
                    if isinstance(item, Numbered) and isinstance(item.event, SessionStarted):
                        started = item.event
            except TALK_ERRORS as exc:
                self.notify(f"could not read {handle}'s transcript: {said(exc)}", severity="error")
                return None
            if started is None:
                self.notify(f"{handle} never started: there is no session to open", timeout=6)
                return None
            self._closed_here.discard(handle)
            await self._restore_tab(TabRecord(handle, profile, started.harness_session_id), None)
        if handle not in self._by_handle:
            return None
        self.select_tab(self.tabs.index(self._by_handle[handle]))
        self.save_soon()
        return self._by_handle[handle]

    async def workflow_runs(self) -> list[RunRecord]:
        """The project's latest workflow runs, newest first, as the daemon lists them."""
        return await self.daemon.workflows(limit=WORKFLOW_RUNS_SHOWN)

    async def run_sessions(self, run_id: str) -> list[str]:
        """The handles of the sessions of workflow run ``run_id`` (those it spawned, and
        the workers of the tasks it delegated), as its log says them so far."""
        handles = []
        async for item in self.daemon.workflow_log(run_id, follow=False):
            if isinstance(item, RunSession):
                handles.append(item.handle)
        return handles

    def start_workflow(self, name: str, arguments: dict[str, str]) -> bool:
        """Start workflow ``name`` in the daemon (it runs on when its screen closes, and
        when the TUI detaches); says why not and returns False."""
        if self.client is None or self._tg is None:
            self.notify("aegis is not attached to its daemon", severity="error")
            return False
        if get_workflow(name) is None:
            names = ", ".join(self.project.workflows) or "none"
            self.notify(f"no workflow {name!r} (workflows: {names})", severity="error")
            return False
        client = self.client

        async def run() -> None:
            try:
                record = await client.run_workflow(name, arguments)
            except TALK_ERRORS as exc:  # what the daemon says before the run starts
                self.notify(f"workflow {name} did not start: {said(exc)}", severity="error")
                return
            try:
                async for item in client.workflow_log(record.id):
                    if isinstance(item, RunEnd):
                        status = item.run.status.value
                        self.notify(f"workflow run {record.id}: {status}", timeout=6)
            except TALK_ERRORS as exc:
                log.warning("the log of workflow run %s stopped: %s", record.id, exc)

        self._tg.start_soon(run)
        return True

    def resume_workflow(self, run_id: str) -> bool:
        """Ask the daemon to resume run ``run_id`` from its last checkpoint (an error says
        why it could not); its end is notified, as a run started here."""
        if self.client is None or self._tg is None:
            return False
        client = self.client

        async def resume() -> None:
            try:
                await client.resume_workflow(run_id)
                async for item in client.workflow_log(run_id, follow=True):
                    if isinstance(item, RunEnd):
                        self.notify(f"workflow run {run_id}: {item.run.status.value}", timeout=6)
            except TALK_ERRORS as exc:
                self.notify(f"could not resume {run_id}: {said(exc)}", severity="warning")

        self._tg.start_soon(resume)
        return True

    def cancel_workflow(self, run_id: str) -> bool:
        """Ask the daemon to cancel run ``run_id`` (an error says why it could not)."""
        if self.client is None or self._tg is None:
            return False
        client = self.client

        async def cancel() -> None:
            try:
                await client.cancel_workflow(run_id)
            except TALK_ERRORS as exc:
                self.notify(f"could not cancel {run_id}: {said(exc)}", severity="warning")

        self._tg.start_soon(cancel)
        return True

    # --- redrawing ---------------------------------------------------------------------------

    def _tick(self) -> None:
        if self._stopping.is_set():
            return
        with suppress(NoMatches):  # the app is leaving: its screen is being taken down
            self.main.query_one(StatusBar).show(self.current, self.clock())

    def _spin(self) -> None:
        tab = self.current
        if self._stopping.is_set() or tab is None or tab.state != "busy":
            return
        with suppress(NoMatches):
            self.main.query_one(WorkingIndicator).show(tab, self.clock())

    def _chrome_soon(self) -> None:
        """Redraw the tab bar and status lines once after this burst of events."""
        if not self._chrome_due:
            self._chrome_due = True
            self.call_later(self._refresh_chrome)

    def _refresh_chrome(self) -> None:
        self._chrome_due = False
        if self._stopping.is_set():
            return  # the screen may be half taken down
        tab = self.current
        with suppress(NoMatches):  # the app is leaving: its screen is being taken down
            self.main.query_one(TabBar).show(self.tabs, self.active)
            self.main.query_one(StatusBar).show(tab, self.clock())
            self.main.query_one(WorkingIndicator).show(tab, self.clock())
            self.main.query_one(QueuedMessages).show(tab.pending if tab is not None else [])
            approval = self.main.query_one(ApprovalPrompt)
            prompt = self.main.query_one(PromptInput)
            if approval.show(list(tab.needs.values()) if tab is not None else []):
                # A new request takes the keyboard, unless a message is being typed
                # (keys meant for it must not answer): ctrl+y answers then.
                typing = self.focused is prompt and prompt.value.strip()
                shown = self.screen is self.main  # not under a dialog or another view
                if shown and not typing and not isinstance(self.focused, TerminalView):
                    approval.focus()
            elif not approval.display and self.focused is approval:
                prompt.focus()

    def tab_named(self, handle: str) -> Tab:
        """The tab of session ``handle`` (tests and scripts)."""
        return self._by_handle[handle]

    def debug_state(self) -> dict[str, Any]:
        """A summary of the tabs, for tests and bug reports."""
        return {
            "active": self.active,
            "tabs": [(t.handle, t.profile, t.state, t.unseen, list(t.pending)) for t in self.tabs],
        }
