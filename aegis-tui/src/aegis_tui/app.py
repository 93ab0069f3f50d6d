"""The aegis Textual application: tabs of sessions over one project's runtime.

The app runs the project's :class:`~aegis.runtime.Runtime` (the session
sessions, the inbox, the queues and the workflow runner) in a long-lived worker of
its own event loop, and renders nothing but the canonical events the session manager
streams. Each tab is one session: its transcript (a Line API view), its state
dot, its unseen-output marker. The tabs are remembered in ``.aegis/tui.json``
and resumed the next time aegis opens in the project.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream
from textual.app import App
from textual.binding import BindingType
from textual.messages import ExitApp
from textual.widgets import ContentSwitcher

from aegis.config.loader import Project
from aegis.errors import MessageRefused
from aegis.events import Event, SessionStarted, StateChanged, TurnEnd
from aegis.runtime import Runtime
from aegis.session.manager import SessionClosed, SessionManager
from aegis.workflow.registry import get_workflow
from aegis_tui.keys import APP_KEYS, read_alt_keys
from aegis_tui.replay import read_transcript
from aegis_tui.screens.ask_text import AskText
from aegis_tui.screens.broken_state import BrokenStateScreen
from aegis_tui.screens.confirm import Confirm
from aegis_tui.screens.help import HelpScreen
from aegis_tui.screens.main import MainScreen
from aegis_tui.screens.profiles import ProfilePicker
from aegis_tui.screens.queues import QueueDashboard, QueueSource
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
from aegis_tui.tab import Clock, Tab
from aegis_tui.widgets.prompt import PromptInput
from aegis_tui.widgets.queue_strip import QueueStrip
from aegis_tui.widgets.queued import QueuedMessages
from aegis_tui.widgets.status import StatusBar
from aegis_tui.widgets.tabs import TabBar
from aegis_tui.widgets.transcript import TranscriptView
from aegis_tui.widgets.working import WorkingIndicator

log = logging.getLogger("aegis.tui")

SPIN_EVERY = 0.1
"""Seconds between two frames of the working line's spinner."""

QUIT_TIMEOUT = 30.0
"""Seconds quitting waits for sessions and running queue tasks to stop."""

RuntimeFactory = Callable[[Project], Runtime]


def describe(exc: BaseException) -> str:
    """``Type: message`` of the first real error inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


class AegisApp(App[int]):
    """The aegis terminal UI.

    ``profile`` opens a tab of that profile (beside the restored ones); ``clean``
    starts without restoring. The other arguments are seams for tests and
    benchmarks: ``runtime`` builds the runtime, ``clock`` gives monotonic
    seconds for the status bar, ``handles`` names new sessions (instead of random
    readable names), ``queue_source`` replaces the queue manager the strip and the
    dashboard read, and ``queue_poll`` is how often the strip is refreshed
    (``None``: only when asked).
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
        runtime: RuntimeFactory = Runtime,
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
        self.clock = clock
        self.wall_clock = wall_clock
        self.queue_poll = queue_poll
        self.tabs: list[Tab] = []
        self.active = 0
        self.bells = 0
        """How many times the bell rang (a background tab finished a turn)."""
        self.runtime: Runtime | None = None
        self.state_file = state_path(project.state_dir)
        self.startup_error: str | None = None
        self._runtime_factory = runtime
        self._handles: Iterator[str] | None = iter(handles) if handles is not None else None
        self._queue_source = queue_source
        self._views: dict[str, TranscriptView] = {}
        self._watchers: dict[str, TranscriptView] = {}
        """Views of sessions that are not tabs (a queue worker's), fed live."""
        self._tg: TaskGroup | None = None
        """The runtime's task group: workflow runs started here belong to it."""
        self._by_handle: dict[str, Tab] = {}
        self._restoring = False
        self._started = False
        self._state_writable = True
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
        self.run_worker(self._host(), name="runtime", group="runtime", exit_on_error=False)

    # --- the runtime and its events -----------------------------------------------------

    @property
    def sessions(self) -> SessionManager:
        """The session manager (once the runtime runs)."""
        if self.runtime is None:
            raise RuntimeError("the runtime is not running")
        return self.runtime.sessions

    @property
    def queues(self) -> QueueSource | None:
        """What the queue strip and dashboard read."""
        if self._queue_source is not None:
            return self._queue_source
        return self.runtime.queues if self.runtime is not None else None

    async def wait_ready(self) -> None:
        """Wait until the runtime runs and the first tabs are open (or start-up failed)."""
        await self._tabs_ready.wait()

    async def _host(self) -> None:
        """Run the runtime for the life of the app, and stop it in order on quit."""
        try:
            async with self._runtime_factory(self.project) as runtime:
                self.runtime = runtime
                with runtime.sessions.subscribe() as events:
                    await self.refresh_queues()  # the strip is filled before any tab opens
                    async with anyio.create_task_group() as tg:
                        self._tg = tg
                        tg.start_soon(self._pump, events)
                        tg.start_soon(self._saver)
                        tg.start_soon(self._poll_queues)
                        await self._open_first_tabs()
                        self._tabs_ready.set()
                        await self._stopping.wait()
                        tg.cancel_scope.cancel()
                    if self._state_writable:
                        # Last words before the sessions close: what restoring will need.
                        await anyio.to_thread.run_sync(save_state, self.state_file, self.snapshot())
        except Exception as exc:
            log.exception("the runtime stopped")
            self.startup_error = describe(exc)
            self.notify(f"aegis could not run: {self.startup_error}", severity="error", timeout=30)
        finally:
            self.runtime = None
            self._tg = None
            self._tabs_ready.set()
            self._stopped.set()

    async def _pump(self, events: MemoryObjectReceiveStream[tuple[str, Event]]) -> None:
        async for handle, event in events:
            self._on_event(handle, event)
            # Take whatever else is waiting now, so that a burst is laid out once.
            while True:
                try:
                    handle, event = events.receive_nowait()
                except (anyio.WouldBlock, anyio.EndOfStream):
                    break
                self._on_event(handle, event)
            self._refresh_chrome()

    def _on_event(self, handle: str, event: Event) -> None:
        tab = self._by_handle.get(handle)
        if tab is None or self._stopping.is_set():
            watcher = self._watchers.get(handle)
            if watcher is not None:
                watcher.add_event(event)
            return  # a queue worker or a workflow's session: not a tab
        held = list(tab.pending)
        tab.apply(event, self.clock())
        if held and not tab.live:
            self._unsent(tab, held)  # the session ended before they could go
        shown = self._views[handle].add_event(event)
        if isinstance(event, StateChanged) and event.state == "ready" and tab.pending:
            self._send(tab, tab.pending.pop(0))  # the next message the user left waiting
        background = self.tabs.index(tab) != self.active
        if background and shown and not isinstance(event, SessionStarted):
            tab.unseen = True
        if background and isinstance(event, TurnEnd):
            self.ring_bell()
        if isinstance(event, SessionStarted):
            self.save_soon()

    def ring_bell(self) -> None:
        """The terminal bell: a tab in the background finished its turn."""
        self.bells += 1
        self.bell()

    # --- opening tabs ------------------------------------------------------------------------

    async def _open_first_tabs(self) -> None:
        state = None if self.clean else await self._load_state()
        if self._stopping.is_set():
            return
        if state is not None:
            self._restoring = True
            try:
                for record in state.tabs:
                    await self._restore_tab(record)
            finally:
                self._restoring = False
            prompt = self.main.query_one(PromptInput)
            prompt.sent = list(state.history)
            prompt.remember("")
            self._history = list(state.history)
            if self.tabs:
                self.select_tab(min(state.active, len(self.tabs) - 1))
        if self.start_profile is not None:
            await self.open_tab(self.start_profile)
        elif not self.tabs:
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

    def _new_tab(self, handle: str, profile: str) -> tuple[Tab, TranscriptView]:
        agent = self.project.agents[profile]
        tab = Tab(
            handle=handle,
            profile=profile,
            provider=agent.harness,
            model=agent.model,
            permission=str(agent.permission),
            opened_at=self.clock(),
        )
        view = TranscriptView(id=f"view-{handle}")
        view.display = False  # until selected: the switcher shows one view at a time
        # Registered before anything awaits: the session's first events find their tab.
        self.tabs.append(tab)
        self._by_handle[handle] = tab
        self._views[handle] = view
        return tab, view

    async def open_tab(self, profile: str) -> Tab | None:
        """Start a session of ``profile`` in a new tab, and show it."""
        wanted = next(self._handles, None) if self._handles is not None else None
        try:
            handle = await self.sessions.spawn(profile, wanted, wait=False)
        except Exception as exc:  # an unknown profile, a taken handle: say it, keep going
            self.notify(f"could not open a {profile} session: {exc}", severity="error")
            return None
        tab, view = self._new_tab(handle, profile)
        view.note(self.welcome(profile), "")
        await self.main.query_one("#views", ContentSwitcher).mount(view)
        self.select_tab(len(self.tabs) - 1)
        self.save_soon()
        return tab

    async def _restore_tab(self, record: TabRecord) -> None:
        if record.profile not in self.project.agents:
            self.notify(
                f"tab {record.handle} not restored: profile {record.profile!r} "
                "is no longer in .aegis.py",
                severity="warning",
            )
            return
        if record.harness_session_id is None:
            return  # it never started: there is nothing to resume
        events = await anyio.to_thread.run_sync(
            read_transcript, self.sessions.transcript_path(record.handle)
        )
        tab, view = self._new_tab(record.handle, record.profile)
        tab.harness_session_id = record.harness_session_id
        tab.title = record.title
        for event in events:
            tab.replay(event)
            view.timeline.apply(event)
        if events:
            view.note(f"── {len(events)} events of an earlier run above; resuming the session")
        await self.main.query_one("#views", ContentSwitcher).mount(view)
        try:
            await self.sessions.spawn(
                record.profile, record.handle, wait=False, resume=record.harness_session_id
            )
        except Exception as exc:
            tab.state, tab.error = "failed", str(exc)
            view.note(f"✖ could not resume: {exc}", "bold red")
        if len(self.tabs) == 1:
            self.select_tab(0)

    # --- the state file ----------------------------------------------------------------------

    def snapshot(self) -> TuiState:
        """What ``tui.json`` should say now."""
        return TuiState(
            tabs=tuple(
                TabRecord(t.handle, t.profile, t.harness_session_id, t.title) for t in self.tabs
            ),
            active=self.active,
            history=tuple(self._history),
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

    # --- queues ------------------------------------------------------------------------------

    async def _poll_queues(self) -> None:
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
        strip.show(list(self.project.queues), counts)

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
        self.main.query_one("#views", ContentSwitcher).current = f"view-{tab.handle}"
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
        if tab is None or self.runtime is None:
            self.notify("No session: ctrl+t opens one", severity="warning")
            prompt.give_back(text)
            return
        if not tab.live:
            self._notify_ended(tab)
            prompt.give_back(text)
            return
        if tab.state == "ready" and not tab.pending:
            if not self._send(tab, text):
                prompt.give_back(text)
                return
        else:
            # Kept here, not in the session's inbox, until the agent is ready: escape
            # gives it back to the input box instead of sending it after the interrupt.
            tab.pending.append(text)
        self._refresh_chrome()
        self.save_soon()

    def _send(self, tab: Tab, text: str) -> bool:
        """Send ``text`` to the session of ``tab``; says why not and returns False."""
        try:
            self.sessions.send(tab.handle, text, sender="user")
        except SessionClosed:
            self._notify_ended(tab)
            return False
        except MessageRefused as exc:
            self.notify(f"message refused: {exc}", severity="error")
            return False
        return True

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

    def on_tab_bar_selected(self, event: TabBar.Selected) -> None:
        self.select_tab(event.index)

    async def action_new_tab(self) -> None:
        if self.runtime is not None:
            await self.open_tab(self.project.default_agent)

    def action_pick_profile(self) -> None:
        if self.runtime is None:
            return

        def chosen(profile: str | None) -> None:
            if profile is not None:
                self.run_worker(self.open_tab(profile), group="tabs")

        self.push_screen(ProfilePicker(self.project.agents, self.project.default_agent), chosen)

    def action_close_tab(self) -> None:
        tab = self.current
        if tab is None:
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
        index = self.tabs.index(tab)
        self.tabs.remove(tab)
        del self._by_handle[tab.handle]
        view = self._views.pop(tab.handle)
        if index < self.active or self.active >= len(self.tabs):
            self.active = max(self.active - 1, 0)
        if self.tabs:
            self.select_tab(self.active)
        else:
            self._refresh_chrome()
        await view.remove()
        self.save_soon()
        if self.runtime is not None and tab.live:
            await self.sessions.close(tab.handle)

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
        if tab is None or self.runtime is None:
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
        await self.sessions.interrupt(tab.handle)

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
        if tab is not None:
            self.view_of(tab).toggle_all()

    def action_scroll_transcript(self, pages: int) -> None:
        tab = self.current
        if tab is None:
            return
        view = self.view_of(tab)
        if pages < 0:
            view.scroll_page_up(animate=False)
        else:
            view.scroll_page_down(animate=False)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

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
                self.project.state_dir,
                workflows=list(self.project.workflows),
                start=self.start_workflow,
                cancel=self.cancel_workflow,
                wall_clock=self.wall_clock,
            )
        )

    async def action_quit(self) -> None:
        """Save the tabs, close every session (and running queue task), then leave."""
        if not self._stopping.is_set():
            self.notify("closing the sessions…", timeout=QUIT_TIMEOUT)
            await self.stop_runtime()
        self.exit(0)

    async def stop_runtime(self) -> None:
        """Stop the runtime in order: tabs saved, sessions closed, queue tasks ended."""
        self._stopping.set()
        with anyio.move_on_after(QUIT_TIMEOUT):
            await self._stopped.wait()

    async def on_exit_app(self, event: ExitApp) -> None:
        # However the app is left (quit, App.exit), stop the runtime
        # before Textual cancels its worker: a cancelled worker could not stop it in
        # order (the sessions' shielded clean-up does not hold against a task cancel).
        if self._started:
            await self.stop_runtime()

    # --- sessions that are not tabs, and workflow runs ---------------------------------------

    async def watch_session(self, handle: str, view: TranscriptView) -> None:
        """Fill ``view`` with the transcript of session ``handle`` so far, then feed it
        that session's live events until :meth:`unwatch_session`."""
        if self.runtime is None:
            return
        events = await self._transcript_of(handle)
        for event in events:
            view.timeline.apply(event)
        self._watchers[handle] = view
        view.schedule_settle()

    async def _transcript_of(self, handle: str) -> list[Event]:
        """The events of session ``handle`` written so far (the pending ones flushed first)."""
        await self.sessions.flush_transcripts()
        path = self.sessions.transcript_path(handle)
        return await anyio.to_thread.run_sync(read_transcript, path)

    def unwatch_session(self, handle: str) -> None:
        """Stop feeding the view of ``handle`` (its screen closed)."""
        self._watchers.pop(handle, None)

    async def open_session_tab(self, handle: str, profile: str) -> Tab | None:
        """Show session ``handle`` (a queue worker's) in a tab: attached while it runs,
        resumed from its transcript once it has ended."""
        if handle in self._by_handle:
            self.select_tab(self.tabs.index(self._by_handle[handle]))
            return self._by_handle[handle]
        if self.runtime is None or profile not in self.project.agents:
            return None
        events = await self._transcript_of(handle)
        live = self.sessions.known(handle) and self._is_live(handle)
        if not live:
            started = [e for e in events if isinstance(e, SessionStarted)]
            if not started:
                self.notify(f"{handle} never started: there is no session to open", timeout=6)
                return None
            await self._restore_tab(TabRecord(handle, profile, started[-1].harness_session_id))
        else:
            tab, view = self._new_tab(handle, profile)
            info = self.sessions.get(handle)
            tab.state, tab.harness_session_id = info.state.value, info.harness_session_id
            for event in events:
                tab.replay(event)
                view.timeline.apply(event)
            await self.main.query_one("#views", ContentSwitcher).mount(view)
        if handle not in self._by_handle:
            return None
        self.select_tab(self.tabs.index(self._by_handle[handle]))
        self.save_soon()
        return self._by_handle[handle]

    def _is_live(self, handle: str) -> bool:
        try:
            return self.sessions.get(handle).state.live
        except Exception:  # a handle of an earlier run: no session in this process
            return False

    def start_workflow(self, name: str, arguments: dict[str, str]) -> bool:
        """Start workflow ``name`` in the runtime (it runs on when its screen closes);
        says why not and returns False."""
        if self.runtime is None or self._tg is None:
            self.notify("aegis is not running", severity="error")
            return False
        if get_workflow(name) is None:
            names = ", ".join(self.project.workflows) or "none"
            self.notify(f"no workflow {name!r} (workflows: {names})", severity="error")
            return False
        runner = self.runtime.workflows

        async def run() -> None:
            try:
                record = await runner.run(name, arguments, caller_handle=None)
            except Exception as exc:  # what the runner raises before the run starts
                self.notify(f"workflow {name} did not start: {exc}", severity="error")
                return
            self.notify(f"workflow run {record.id}: {record.status.value}", timeout=6)

        self._tg.start_soon(run)
        return True

    def cancel_workflow(self, run_id: str) -> bool:
        """Cancel run ``run_id`` if it runs in this process; returns whether it did."""
        return self.runtime is not None and self.runtime.workflows.cancel(run_id)

    # --- redrawing ---------------------------------------------------------------------------

    def _tick(self) -> None:
        if self._stopping.is_set():
            return
        self.main.query_one(StatusBar).show(self.current, self.clock())

    def _spin(self) -> None:
        tab = self.current
        if self._stopping.is_set() or tab is None or tab.state != "busy":
            return
        self.main.query_one(WorkingIndicator).show(tab, self.clock())

    def _refresh_chrome(self) -> None:
        if self._stopping.is_set():
            return  # the screen may be half taken down
        tab = self.current
        self.main.query_one(TabBar).show(self.tabs, self.active)
        self.main.query_one(StatusBar).show(tab, self.clock())
        self.main.query_one(WorkingIndicator).show(tab, self.clock())
        self.main.query_one(QueuedMessages).show(tab.pending if tab is not None else [])

    def tab_named(self, handle: str) -> Tab:
        """The tab of session ``handle`` (tests and scripts)."""
        return self._by_handle[handle]

    def debug_state(self) -> dict[str, Any]:
        """A summary of the tabs, for tests and bug reports."""
        return {
            "active": self.active,
            "tabs": [(t.handle, t.profile, t.state, t.unseen, list(t.pending)) for t in self.tabs],
        }
