"""The queue dashboard: every task with its status, timings and result; enqueue from it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Select, Static

from aegis.queue.task import TaskRecord
from aegis_tui import formatting
from aegis_tui.widgets.queue_strip import COLUMNS, strip_text

TASKS_SHOWN = 200
"""The most recent tasks the dashboard lists."""

_STATUS_STYLE = {status: colour for status, _, colour in COLUMNS} | {"cancelled": "grey50"}


class QueueSource(Protocol):
    """What the dashboard reads and writes: the queue manager's surface."""

    async def counts(self) -> dict[str, dict[str, int]]: ...

    async def list_tasks(
        self, queue: str | None = None, status: Any = None, limit: int | None = 100
    ) -> list[TaskRecord]: ...

    async def enqueue(
        self, queue: str, payload: str, sender: str = "user", callback: bool = False
    ) -> str: ...


def timings(task: TaskRecord, now: float) -> tuple[str, str]:
    """How long ``task`` waited in its queue, and how long it ran (so far)."""
    if task.started_at is None:
        waited = now - task.created_at if task.status.value == "queued" else None
        return (formatting.duration(waited) if waited is not None else "-"), "-"
    waited_s = task.started_at - task.created_at
    ran = (task.finished_at or now) - task.started_at
    return formatting.duration(waited_s), formatting.duration(ran)


def preview(task: TaskRecord, width: int = 60) -> str:
    """One line of the task's outcome: its result, its error, or its payload while it waits."""
    if task.error:
        return formatting.one_line(task.error, width)
    if task.result:
        return formatting.one_line(task.result, width)
    return formatting.one_line(task.payload, width)


class QueueDashboard(Screen[None]):
    """The tasks of every queue, refreshed every second; enter in the box enqueues."""

    DEFAULT_CSS = """
    QueueDashboard #strip { height: 1; background: $boost; }
    QueueDashboard #enqueue { height: 3; }
    QueueDashboard #queue { width: 24; }
    QueueDashboard #payload { width: 1fr; }
    QueueDashboard DataTable { height: 1fr; }
    QueueDashboard #detail { height: 8; border-top: solid $panel; padding: 0 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        ("escape,f2", "app.pop_screen", "Back"),
        ("f5", "refresh", "Refresh"),
    ]

    def __init__(
        self,
        source: QueueSource,
        queues: Sequence[str],
        *,
        wall_clock: Callable[[], float] = time.time,
        refresh_every: float | None = 1.0,
    ) -> None:
        super().__init__()
        self.source = source
        self.queue_names = list(queues)
        self.wall_clock = wall_clock
        self.refresh_every = refresh_every
        self.tasks: list[TaskRecord] = []

    def compose(self) -> ComposeResult:
        yield Static(id="strip")
        with Horizontal(id="enqueue"):
            options = [(name, name) for name in self.queue_names]
            yield Select(
                options,
                id="queue",
                allow_blank=not options,
                value=options[0][1] if options else Select.BLANK,
                prompt="no queue",
            )
            yield Input(placeholder="a task for the queue; enter enqueues it", id="payload")
        table: DataTable[Text | str] = DataTable(id="tasks", cursor_type="row", zebra_stripes=True)
        table.add_columns("task", "queue", "status", "waited", "ran", "result")
        yield table
        with VerticalScroll(id="detail"):
            yield Static(id="detail-text")
        yield Footer()

    async def on_mount(self) -> None:
        self.query_one("#payload", Input).focus()
        await self.reload()
        if self.refresh_every:
            self.set_interval(self.refresh_every, self.reload)

    async def action_refresh(self) -> None:
        await self.reload()

    async def reload(self) -> None:
        """Read the counts and the tasks again."""
        counts = await self.source.counts()
        self.tasks = await self.source.list_tasks(limit=TASKS_SHOWN)
        self.query_one("#strip", Static).update(strip_text(self.queue_names, counts))
        self._fill(self.tasks)

    def _fill(self, tasks: list[TaskRecord]) -> None:
        table: DataTable[Text | str] = self.query_one("#tasks", DataTable)
        row = table.cursor_row
        table.clear()
        now = self.wall_clock()
        for task in reversed(tasks):  # newest first
            waited, ran = timings(task, now)
            status = Text(task.status.value, style=_STATUS_STYLE.get(task.status.value, ""))
            table.add_row(task.id, task.queue, status, waited, ran, preview(task), key=task.id)
        if tasks:
            table.move_cursor(row=min(row, len(tasks) - 1))
        self._show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        table: DataTable[Text | str] = self.query_one("#tasks", DataTable)
        detail = self.query_one("#detail-text", Static)
        if not self.tasks or table.cursor_row < 0:
            detail.update(Text("no task yet: type one above and press enter", style="dim"))
            return
        task = list(reversed(self.tasks))[min(table.cursor_row, len(self.tasks) - 1)]
        text = Text()
        text.append(f"{task.id}", "bold")
        text.append(f"  {task.queue} · {task.status.value} · from {task.sender}", "dim")
        text.append(f"  attempt {task.attempt}" if task.attempt > 1 else "", "dim")
        if task.worker_handle:
            text.append(f" · worker {task.worker_handle}", "dim")
        text.append("\n▌ ", "bold cyan")
        text.append(task.payload)
        if task.result:
            text.append("\n")
            text.append(task.result)
        if task.error:
            text.append(f"\n{task.error}", "red")
        detail.update(text)

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # the app's own input handler is for the main prompt
        payload = event.value.strip()
        queue = self.query_one("#queue", Select).value
        if not payload:
            return
        if not isinstance(queue, str):
            self.notify("No queue is declared in .aegis.py", severity="error")
            return
        self._enqueue(queue, payload)
        event.input.value = ""

    @work(group="enqueue")
    async def _enqueue(self, queue: str, payload: str) -> None:
        try:
            task_id = await self.source.enqueue(queue, payload, sender="user")
        except Exception as exc:  # an unknown queue, a backend that is down: say so, go on
            self.notify(f"could not enqueue: {exc}", severity="error")
            return
        self.notify(f"task {task_id} queued on {queue}")
        await self.reload()
