"""The queue dashboard: every task with its status, timings and result; enqueue from it,
open a task's worker transcript (live while it runs) or its session in a tab, cancel, retry."""

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
from aegis_tui.screens.reloading import ReloadingScreen
from aegis_tui.widgets.key_bar import KeyBar
from aegis_tui.widgets.queue_strip import COLUMNS, strip_text
from aegis_tui.widgets.transcript import TranscriptView

KEYS = (
    ("esc", "Back"),
    ("^q", "Quit"),
    ("tab", "Tasks"),
    ("enter", "Transcript"),
    ("t", "As tab"),
    ("d", "Diff"),
    ("c", "Cancel"),
    ("r", "Retry"),
    ("f5", "Refresh"),
)
"""The dashboard's footer (the task keys act in the task list)."""

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

    async def cancel(self, task_id: str) -> TaskRecord: ...

    async def retry(self, task_id: str) -> str: ...


class TaskTable(DataTable[Text | str]):
    """The tasks; its keys act on the task under the cursor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        ("enter,o", "screen.open_transcript", "Transcript"),
        ("t", "screen.open_tab", "Open as tab"),
        ("d", "screen.open_diff", "Diff"),
        ("c", "screen.cancel_task", "Cancel"),
        ("r", "screen.retry_task", "Retry"),
    ]


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


def workers_text(workers: Sequence[dict[str, Any]]) -> str:
    """One line per aegis process serving the queues: host, pid, queues, running tasks,
    heartbeat age."""
    return "\n".join(
        f"worker {w['host']} pid {w['pid']}  queues {','.join(w['queues']) or '-'}  "
        f"running {w['running']}  heartbeat {formatting.duration(w['heartbeat_age'])} ago"
        for w in workers
    )


class QueueDashboard(ReloadingScreen):
    """The tasks of every queue, refreshed every second; enter in the box enqueues."""

    DEFAULT_CSS = """
    QueueDashboard #strip { height: 1; background: $boost; }
    QueueDashboard #workers { height: auto; max-height: 5; color: $text-muted; }
    QueueDashboard #enqueue { height: 3; }
    QueueDashboard #queue { width: 24; }
    QueueDashboard #payload { width: 1fr; }
    QueueDashboard DataTable { height: 2fr; min-height: 3; }
    QueueDashboard #detail { height: 1fr; max-height: 12; border-top: solid $panel; padding: 0 1; }
    QueueDashboard.-short #enqueue { height: 1; }
    QueueDashboard.-short #enqueue Input { border: none; height: 1; }
    QueueDashboard.-short #enqueue SelectCurrent { border: none; height: 1; }
    QueueDashboard.-short #detail { border-top: none; }
    """

    FOCUS = "#payload"
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
        workers = Static(id="workers")
        workers.display = False  # shown with a backend that knows its workers (PostgreSQL)
        yield workers
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
        table = TaskTable(id="tasks", cursor_type="row", zebra_stripes=True)
        table.add_columns("task", "queue", "status", "waited", "ran", "result")
        yield table
        with VerticalScroll(id="detail"):
            yield Static(id="detail-text")
        yield KeyBar(KEYS)

    async def reload(self) -> None:
        """Read the counts and the tasks again."""
        counts = await self.source.counts()
        self.tasks = await self.source.list_tasks(limit=TASKS_SHOWN)
        self.query_one("#strip", Static).update(strip_text(self.queue_names, counts))
        # Optional in a source: a backend of one host has no workers to show.
        list_workers = getattr(self.source, "workers", None)
        if list_workers is not None:
            shown = self.query_one("#workers", Static)
            workers = await list_workers()
            shown.update(workers_text(workers))
            shown.display = bool(workers)
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

    def selected(self) -> TaskRecord | None:
        """The task under the table's cursor."""
        table: DataTable[Text | str] = self.query_one("#tasks", DataTable)
        if not self.tasks or table.cursor_row < 0:
            return None
        return list(reversed(self.tasks))[min(table.cursor_row, len(self.tasks) - 1)]

    def _show_detail(self) -> None:
        detail = self.query_one("#detail-text", Static)
        task = self.selected()
        if task is None:
            detail.update(Text("no task yet: type one above and press enter", style="dim"))
            return
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
        text.append(
            "\ntab: the task list · enter: transcript · t: open as tab · c: cancel · r: retry",
            "dim",
        )
        detail.update(text)

    # --- acting on the task under the cursor ------------------------------------------------

    def _worker(self) -> tuple[TaskRecord, str] | None:
        task = self.selected()
        if task is None:
            return None
        if task.worker_handle is None:
            self.notify(f"task {task.id} has no worker yet ({task.status.value})", timeout=5)
            return None
        return task, task.worker_handle

    def action_open_transcript(self) -> None:
        found = self._worker()
        if found is not None:
            task, handle = found
            self.app.push_screen(WorkerTranscript(handle, f"task {task.id} · {task.queue}"))

    def action_open_diff(self) -> None:
        found = self._worker()
        worktrees = getattr(self.app, "worktrees", None)
        if found is not None and worktrees is not None:
            from aegis_tui.screens.diff import DiffScreen

            self.app.push_screen(DiffScreen(worktrees, found[1]))

    async def action_open_tab(self) -> None:
        found = self._worker()
        queues = getattr(self.app, "project", None)
        opener = getattr(self.app, "open_session_tab", None)
        if found is None or queues is None or opener is None:
            return
        task, handle = found
        queue = queues.queues.get(task.queue)
        if queue is None:
            self.notify(f"queue {task.queue!r} is no longer in .aegis.py", severity="error")
            return
        ended = task.status.value != "running"
        if await opener(handle, queue.agent_profile, ended=ended) is not None:
            self.app.pop_screen()  # to the tab

    @work(group="task-action")
    async def action_cancel_task(self) -> None:
        task = self.selected()
        if task is None:
            return
        try:
            ended = await self.source.cancel(task.id)
        except Exception as exc:
            self.notify(f"could not cancel {task.id}: {exc}", severity="error")
            return
        self.notify(f"task {task.id}: {ended.status.value}")
        await self.reload()

    @work(group="task-action")
    async def action_retry_task(self) -> None:
        task = self.selected()
        if task is None:
            return
        try:
            new = await self.source.retry(task.id)
        except Exception as exc:  # not failed or cancelled: say why
            self.notify(f"could not retry: {exc}", severity="error")
            return
        self.notify(f"task {task.id} enqueued again as {new}")
        await self.reload()

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


class WorkerTranscript(Screen[None]):
    """The transcript of a queue worker's session, live while it runs."""

    DEFAULT_CSS = """
    WorkerTranscript #title { height: 1; background: $boost; }
    WorkerTranscript TranscriptView { height: 1fr; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [("escape", "app.pop_screen", "Back")]

    def __init__(self, handle: str, title: str) -> None:
        super().__init__()
        self.handle = handle
        self.title_text = title

    def compose(self) -> ComposeResult:
        yield Static(Text(f" {self.handle} · {self.title_text}", style="bold"), id="title")
        yield TranscriptView(id="worker-view")
        yield Footer()

    async def on_mount(self) -> None:
        view = self.query_one(TranscriptView)
        view.focus()
        watch = getattr(self.app, "watch_session", None)
        if watch is not None:
            await watch(self.handle, view)

    def on_unmount(self) -> None:
        unwatch = getattr(self.app, "unwatch_session", None)
        if unwatch is not None:
            unwatch(self.handle)
