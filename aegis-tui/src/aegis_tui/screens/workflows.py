"""The workflow runs of the project, newest first, as its daemon lists them, with a run's
arguments, log and full result; start a run in the daemon, cancel one, resume one that
failed, crashed or was cancelled (from its last checkpoint, under the same run id)."""

from __future__ import annotations

import datetime
import json
import shlex
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from aegis.workflow.runner import RunRecord
from aegis_tui import formatting
from aegis_tui.screens.ask_text import AskText
from aegis_tui.screens.reloading import ReloadingScreen
from aegis_tui.widgets.key_bar import KeyBar

KEYS = (
    ("esc", "Back"),
    ("^q", "Quit"),
    ("n", "New run"),
    ("c", "Cancel run"),
    ("r", "Resume run"),
    ("enter", "Sessions"),
    ("f5", "Refresh"),
)
"""The workflow view's footer."""

_STATUS_STYLE = {"running": "dodger_blue1", "ok": "green", "failed": "red", "crashed": "bold red"}


def started(run: RunRecord, now: float) -> str:
    """When ``run`` started, in local time and how long ago: ``14:03 (5m ago)``; the date
    too when it was not today."""
    moment = datetime.datetime.fromtimestamp(run.started_at)
    today = datetime.datetime.fromtimestamp(now).date()
    clock = moment.strftime("%H:%M" if moment.date() == today else "%Y-%m-%d %H:%M")
    return f"{clock} ({ago(now - run.started_at)})"


def ago(seconds: float) -> str:
    """``just now``, ``40s ago``, ``5m ago``, ``3h ago``, ``2d ago``."""
    if seconds < 5:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"


def full_result(result: Any) -> str:
    """A run's result as a person reads it: text as it is, anything else as indented JSON."""
    if isinstance(result, str):
        return result
    try:
        return json.dumps(result, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(result)


def parse_start(line: str) -> tuple[str, dict[str, str]]:
    """``NAME key=value key2="a b"`` into the workflow's name and its arguments.

    Raises :class:`ValueError` with what is wrong.
    """
    words = shlex.split(line)
    if not words:
        raise ValueError("type a workflow's name, then its arguments as key=value")
    name, arguments = words[0], {}
    for word in words[1:]:
        key, equals, value = word.partition("=")
        if not equals or not key:
            raise ValueError(f"{word!r} is not key=value")
        arguments[key] = value
    return name, arguments


def outcome(run: RunRecord, width: int = 50) -> str:
    if run.error:
        return formatting.one_line(run.error, width)
    if run.result is not None:
        text = run.result if isinstance(run.result, str) else json.dumps(run.result, default=str)
        return formatting.one_line(text, width)
    return ""


class WorkflowRuns(ReloadingScreen):
    """A table of runs (read again every few seconds) and the log of the highlighted one.

    ``runs`` reads the runs, newest first; ``sessions`` the handles of a run's
    sessions (those it spawned, and the workers of the tasks it delegated), whose
    transcripts enter opens; ``start``, ``cancel`` and ``resume`` act (each says whether
    it did).
    """

    DEFAULT_CSS = """
    WorkflowRuns #title { height: 1; background: $boost; }
    WorkflowRuns DataTable { height: 1fr; min-height: 3; }
    WorkflowRuns #log { height: 1fr; border-top: solid $panel; padding: 0 1; }
    WorkflowRuns.-short #title { display: none; }
    WorkflowRuns.-short #log { border-top: none; }
    """

    FOCUS = "#runs"
    BINDINGS: ClassVar[list[BindingType]] = [
        ("escape,f3", "app.pop_screen", "Back"),
        ("n", "start", "Start a run"),
        ("o", "open_session", "A session's transcript"),
        ("c", "cancel_run", "Cancel run"),
        ("r", "resume_run", "Resume run"),
        ("f5", "refresh", "Refresh"),
    ]

    def __init__(
        self,
        runs: Callable[[], Awaitable[list[RunRecord]]],
        *,
        workflows: Sequence[str] = (),
        sessions: Callable[[str], Awaitable[list[str]]] | None = None,
        start: Callable[[str, dict[str, str]], bool] | None = None,
        cancel: Callable[[str], bool] | None = None,
        resume: Callable[[str], bool] | None = None,
        wall_clock: Callable[[], float] = time.time,
        refresh_every: float | None = 2.0,
    ) -> None:
        super().__init__()
        self.read_runs = runs
        self.workflows = list(workflows)
        self.sessions = sessions
        self.run_sessions: dict[str, list[str]] = {}
        """The sessions of the runs looked at (a run's are read again while it runs)."""
        self.start = start
        self.cancel = cancel
        self.resume = resume
        self.wall_clock = wall_clock
        self.refresh_every = refresh_every
        self.runs: list[RunRecord] = []

    def compose(self) -> ComposeResult:
        yield Static(Text(" workflow runs", style="bold"), id="title")
        table: DataTable[Text | str] = DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        table.add_columns("run", "status", "started", "took", "outcome")
        yield table
        with VerticalScroll(id="log"):
            yield Static(id="log-text")
        yield KeyBar(KEYS)

    async def reload(self) -> None:
        """Read the runs again."""
        try:
            self.runs = await self.read_runs()
        except Exception as exc:  # the daemon is away: say so, keep what is shown
            self.notify(f"could not read the workflow runs: {exc}", severity="error")
            return
        table: DataTable[Text | str] = self.query_one("#runs", DataTable)
        row = table.cursor_row
        table.clear()
        now = self.wall_clock()
        for run in self.runs:
            took = formatting.duration(run.duration_s) if run.duration_s is not None else "-"
            status = Text(run.status.value, style=_STATUS_STYLE.get(run.status.value, ""))
            table.add_row(run.id, status, started(run, now), took, outcome(run), key=run.id)
        if self.runs:
            table.move_cursor(row=min(max(row, 0), len(self.runs) - 1))
        await self._read_sessions()
        self._show_log()

    async def _read_sessions(self) -> None:
        """The sessions of the run under the cursor (again while it runs)."""
        run = self.selected()
        if self.sessions is None or run is None:
            return
        if run.id in self.run_sessions and run.status.value != "running":
            return
        try:
            self.run_sessions[run.id] = await self.sessions(run.id)
        except Exception as exc:  # the daemon is away: the log says nothing of them
            self.notify(f"could not read the sessions of {run.id}: {exc}", severity="error")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_log()
        self.run_worker(self._sessions_then_log(), group="sessions", exclusive=True)

    async def _sessions_then_log(self) -> None:
        await self._read_sessions()
        self._show_log()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_session()

    def action_open_session(self) -> None:
        """The transcript of the run's session (of the one picked, when there are more)."""
        from aegis_tui.screens.pick import Pick
        from aegis_tui.screens.queues import WorkerTranscript

        run = self.selected()
        if run is None:
            return
        handles = self.run_sessions.get(run.id, [])
        if not handles:
            self.notify(f"{run.id} has no session to show", timeout=5)
            return
        title = f"workflow run {run.id}"

        def show(handle: str | None) -> None:
            if handle is not None:
                self.app.push_screen(WorkerTranscript(handle, title))

        if len(handles) == 1:
            show(handles[0])
            return
        self.app.push_screen(Pick(f"{title}: whose transcript?", [(h, h) for h in handles]), show)

    def _show_log(self) -> None:
        log = self.query_one("#log-text", Static)
        if not self.runs:
            hint = "no workflow has run here yet: n starts one"
            if not self.workflows:
                hint = "no workflow is defined in .aegis.py (see the workflows page of the docs)"
            log.update(Text(hint, style="dim"))
            return
        run = self.selected()
        assert run is not None
        text = Text()
        text.append(run.workflow, "bold")
        if run.arguments:
            text.append("  " + " ".join(f"{k}={v}" for k, v in run.arguments.items()), "dim")
        moment = datetime.datetime.fromtimestamp(run.started_at)
        text.append(f"\nstarted {moment:%Y-%m-%d %H:%M:%S} (local time)", "dim")
        handles = self.run_sessions.get(run.id)
        if handles:
            text.append(f"\nsessions: {', '.join(handles)} (enter: a transcript)", "dim")
        for stamp, message in run.log:
            text.append(f"\n{stamp} ", "dim")
            text.append(message)
        if run.error:
            text.append(f"\n{run.error}", "red")
        if run.result is not None:
            text.append("\nresult:\n", "bold")
            text.append(full_result(run.result))
        log.update(text)

    def selected(self) -> RunRecord | None:
        """The run under the table's cursor."""
        if not self.runs:
            return None
        table: DataTable[Text | str] = self.query_one("#runs", DataTable)
        return self.runs[min(max(table.cursor_row, 0), len(self.runs) - 1)]

    def action_start(self) -> None:
        if self.start is None:
            return
        if not self.workflows:
            self.notify("no workflow is defined in .aegis.py", severity="warning")
            return
        start = self.start

        def answered(line: str | None) -> None:
            if not line:
                return
            try:
                name, arguments = parse_start(line)
            except ValueError as exc:
                self.notify(str(exc), severity="error")
                return
            if start(name, arguments):
                self.notify(f"workflow {name} started")
                self.set_timer(0.5, self.reload)

        self.app.push_screen(
            AskText(
                "Start a workflow: NAME key=value …",
                self.workflows[0] + " ",
                f"workflows: {', '.join(self.workflows)}",
            ),
            answered,
        )

    async def action_cancel_run(self) -> None:
        run = self.selected()
        if run is None or self.cancel is None:
            return
        if run.status.value != "running":
            self.notify(f"{run.id} has ended ({run.status.value})", timeout=5)
            return
        if self.cancel(run.id):
            self.notify(f"cancelling {run.id}")
            self.set_timer(0.5, self.reload)

    async def action_resume_run(self) -> None:
        run = self.selected()
        if run is None or self.resume is None:
            return
        if not run.resumable:
            self.notify(
                f"{run.id} is {run.status.value}: only a failed, crashed or cancelled run "
                "can be resumed",
                timeout=5,
            )
            return
        if self.resume(run.id):
            self.notify(f"resuming {run.id} from: {', '.join(run.checkpoints) or 'the start'}")
            self.set_timer(0.5, self.reload)
