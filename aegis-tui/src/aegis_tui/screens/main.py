"""The main screen: the tab bar, the active tab's transcript, the input box and the status lines."""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import ContentSwitcher

from aegis_tui.keys import MAIN_KEYS, footer_keys
from aegis_tui.widgets.approval import ApprovalPrompt
from aegis_tui.widgets.key_bar import KeyBar, mark_short
from aegis_tui.widgets.prompt import PromptInput
from aegis_tui.widgets.queue_strip import QueueStrip
from aegis_tui.widgets.queued import QueuedMessages
from aegis_tui.widgets.status import StatusBar
from aegis_tui.widgets.tabs import TabBar
from aegis_tui.widgets.working import WorkingIndicator


class MainScreen(Screen[None]):
    """Where the sessions are. Its keys run actions of the app (``app.new_tab``, ...),
    and belong to this screen so that the other screens' footers show their own keys."""

    DEFAULT_CSS = """
    MainScreen #views { height: 1fr; }
    MainScreen #views > TranscriptView { height: 1fr; }
    MainScreen #views > TerminalView { height: 1fr; }
    MainScreen.-terminal #working { display: none; }
    MainScreen.-terminal #queued { display: none; }
    MainScreen.-terminal #prompt { display: none; }
    MainScreen.-short QueueStrip { display: none; }
    MainScreen.-short PromptInput { border: none; min-height: 1; padding: 0 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [key.binding(prefix="app.") for key in MAIN_KEYS]

    def compose(self) -> ComposeResult:
        yield TabBar(id="tabs")
        yield ContentSwitcher(id="views")
        yield WorkingIndicator(id="working")
        yield QueuedMessages(id="queued")
        yield ApprovalPrompt(id="approval")
        yield PromptInput(
            placeholder="message the agent: enter sends, ctrl+j a new line", id="prompt"
        )
        yield StatusBar(id="status")
        yield QueueStrip(id="queue-strip")
        yield KeyBar(footer_keys(), id="keys")

    class Ready(Message):
        """The screen's widgets are mounted (the app starts its sessions then)."""

    def on_resize(self, event: events.Resize) -> None:
        mark_short(self, event.size.height)

    def on_paste(self, event: events.Paste) -> None:
        # A paste while the transcript has the focus (after a click) goes to the input
        # box: the box stops the pastes it takes, so one that gets here would be lost.
        event.stop()
        prompt = self.query_one(PromptInput)
        prompt.focus()
        prompt.post_message(events.Paste(event.text))

    def on_mount(self) -> None:
        self.query_one(PromptInput).focus()
        # After the first refresh: by then every child is mounted, whatever the load.
        self.call_after_refresh(self.post_message, self.Ready())

    async def on_unmount(self) -> None:
        # Taken down without an ExitApp (a test's end, a crash): stop the sessions
        # while the app's worker still runs (see AegisApp.on_exit_app).
        stop = getattr(self.app, "stop_runtime", None)
        if stop is not None:
            await stop()
