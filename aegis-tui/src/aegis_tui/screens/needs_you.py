"""Needs you (f8): every permission request and question waiting for a person, across the
sessions of the daemon (tabs, queue workers, workflow runs), answered from the list."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from aegis.daemon.client import DaemonClient, DaemonError
from aegis.events import PermissionRequest
from aegis_tui import formatting
from aegis_tui.needs_you import NEEDS_YOU, listed_request, what_it_asks
from aegis_tui.screens.ask_text import AskText
from aegis_tui.screens.pick import Pick
from aegis_tui.screens.reloading import ReloadingScreen
from aegis_tui.widgets.key_bar import KeyBar

log = logging.getLogger("aegis.tui")

KEYS = (
    ("esc", "Back"),
    ("^q", "Quit"),
    ("y", "Allow once"),
    ("a", "Allow for the session"),
    ("n", "Deny"),
    ("enter", "Answer a question"),
    ("t", "The session's tab"),
    ("f5", "Refresh"),
)

AnswerRequest = Callable[[str, str, str], None]
"""Sends ``(approval_id, decision, what)`` (a denial asks for its reason first)."""

AnswerQuestion = Callable[[str, str], None]
"""Sends ``(question_id, answer)``."""


@dataclass(frozen=True)
class Waiting:
    """One thing waiting for a person: a permission request or a question."""

    id: str
    kind: str
    """``approval`` or ``question``."""
    asker: str
    """The session's handle, or the question's asker (``agent:h``, ``workflow:run``)."""
    what: str
    at: float
    expires_at: float | None
    request: PermissionRequest | None = None
    options: tuple[str, ...] = ()
    note: str | None = None


class WaitingTable(DataTable[Text | str]):
    """The list; its keys answer the item under the cursor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        ("y", "screen.answer('allow_once')", "Allow once"),
        ("a", "screen.answer('allow_session')", "Allow for the session"),
        ("n", "screen.answer('deny')", "Deny"),
        ("enter", "screen.reply", "Answer"),
        ("t", "screen.open_tab", "Tab"),
    ]


async def waiting_in(client: DaemonClient) -> list[Waiting]:
    """What waits for a person in the daemon now, oldest first."""
    items: list[Waiting] = []
    for item in await client.approvals():
        request = listed_request(item)
        if request is None:
            continue
        items.append(
            Waiting(
                id=str(item["id"]),
                kind="approval",
                asker=str(item.get("session", "?")),
                what=what_it_asks(request, 400),
                at=float(item.get("at") or 0.0),
                expires_at=item.get("expires_at"),
                request=request,
            )
        )
    for question in await client.questions():
        items.append(
            Waiting(
                id=question.id,
                kind="question",
                asker=question.asker,
                what=question.question,
                at=question.asked_at,
                expires_at=question.deadline,
                options=tuple(question.options or ()),
                note=question.note,
            )
        )
    return sorted(items, key=lambda w: w.at)


class NeedsYouScreen(ReloadingScreen):
    """The approvals and questions waiting, re-read every second."""

    DEFAULT_CSS = """
    NeedsYouScreen #title { height: 1; background: $boost; }
    NeedsYouScreen DataTable { height: 2fr; min-height: 3; }
    NeedsYouScreen #detail { height: 1fr; max-height: 12; border-top: solid $panel; padding: 0 1; }
    """

    FOCUS = "#waiting"
    BINDINGS: ClassVar[list[BindingType]] = [
        ("escape,f8", "app.pop_screen", "Back"),
        ("f5", "refresh", "Refresh"),
    ]

    def __init__(
        self,
        client: DaemonClient,
        *,
        answer_request: AnswerRequest,
        answer_question: AnswerQuestion,
        open_tab: Callable[[str], bool],
        wall_clock: Callable[[], float] = time.time,
        refresh_every: float | None = 1.0,
    ) -> None:
        super().__init__()
        self.client = client
        self.answer_request = answer_request
        self.answer_question = answer_question
        self.open_session_tab = open_tab
        self.wall_clock = wall_clock
        self.refresh_every = refresh_every
        self.items: list[Waiting] = []
        self.answered: set[str] = set()
        """Ids answered here: hidden until the daemon stops listing them."""

    def compose(self) -> ComposeResult:
        yield Static(Text(f" {NEEDS_YOU}: approvals and questions", style="bold"), id="title")
        table = WaitingTable(id="waiting", cursor_type="row", zebra_stripes=True)
        table.add_columns("id", "kind", "from", "what", "waiting", "expires in")
        yield table
        with VerticalScroll(id="detail"):
            yield Static(id="detail-text")
        yield KeyBar(KEYS)

    async def reload(self) -> None:
        """Read what waits again."""
        try:
            items = await waiting_in(self.client)
        except (DaemonError, OSError) as exc:
            log.warning("could not list what waits for a person: %s", exc)
            self.query_one("#detail-text", Static).update(Text(f"✖ {exc}", style="red"))
            return
        listed = {item.id for item in items}
        self.answered &= listed
        self.items = [item for item in items if item.id not in self.answered]
        self._fill()

    def _fill(self) -> None:
        table: DataTable[Text | str] = self.query_one(WaitingTable)
        row = table.cursor_row
        table.clear()
        now = self.wall_clock()
        for item in self.items:
            expires = (
                formatting.duration(max(item.expires_at - now, 0.0))
                if item.expires_at is not None
                else "-"
            )
            table.add_row(
                item.id,
                Text(item.kind, style="yellow" if item.kind == "approval" else "cyan"),
                item.asker,
                formatting.one_line(item.what, 60),
                formatting.duration(max(now - item.at, 0.0)),
                expires,
                key=item.id,
            )
        if self.items:
            table.move_cursor(row=min(max(row, 0), len(self.items) - 1))
        self._show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def selected(self) -> Waiting | None:
        """The item under the cursor."""
        table: DataTable[Text | str] = self.query_one(WaitingTable)
        if not self.items or table.cursor_row < 0:
            return None
        return self.items[min(table.cursor_row, len(self.items) - 1)]

    def _show_detail(self) -> None:
        detail = self.query_one("#detail-text", Static)
        item = self.selected()
        if item is None:
            detail.update(Text("nothing waits for you", style="dim"))
            return
        text = Text()
        text.append(f"{item.id}", "bold")
        text.append(f"  {item.kind} from {item.asker}\n", "dim")
        if item.request is not None:
            text.append("may it run ", "dim")
            text.append(item.what, "bold cyan")
            if item.request.rule:
                text.append(f"\n(rule {item.request.rule})", "dim")
            text.append("\ny allow once · a allow for the rest of the session · n deny", "dim")
        else:
            text.append(item.what)
            if item.options:
                text.append(f"\noptions: {', '.join(item.options)}", "dim")
            if item.note:
                text.append(f"\n{item.note}", "yellow")
            text.append("\nenter answers", "dim")
        detail.update(text)

    def action_answer(self, decision: str) -> None:
        item = self.selected()
        if item is None or item.request is None:
            self.notify("y, a and n answer permission requests; enter answers a question")
            return
        self.answer_request(item.id, decision, formatting.one_line(item.what, 60))
        if decision != "deny":  # a denial is sent once its reason is given
            self._answered(item)

    def action_reply(self) -> None:
        item = self.selected()
        if item is None:
            return
        if item.request is not None:
            self.notify("y allows once, a for the session, n denies")
            return

        def reply(answer: str | None) -> None:
            if answer is not None and answer.strip():
                self.answer_question(item.id, answer.strip())
                self._answered(item)

        if item.options:
            choices = [(option, option) for option in item.options]
            self.app.push_screen(Pick(formatting.one_line(item.what, 60), choices), reply)
        else:
            self.app.push_screen(
                AskText(formatting.one_line(item.what, 60), "", f"{item.asker} asks"), reply
            )

    def action_open_tab(self) -> None:
        item = self.selected()
        if item is None:
            return
        handle = item.asker.removeprefix("agent:")
        if self.open_session_tab(handle):
            self.app.pop_screen()
        else:
            self.notify(f"{handle} is not a tab (a queue's worker or a workflow's session)")

    def _answered(self, item: Waiting) -> None:
        self.answered.add(item.id)
        self.items = [i for i in self.items if i.id != item.id]
        self._fill()
