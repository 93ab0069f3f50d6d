"""The workflow runs of the project (``.aegis/workflows/``), newest first, with a run's log."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import ClassVar

import anyio
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from aegis.workflow.runner import RunRecord, load_runs
from aegis_tui import formatting

_STATUS_STYLE = {"running": "dodger_blue1", "ok": "green", "failed": "red", "crashed": "bold red"}


def started(run: RunRecord) -> str:
    """When ``run`` started, in UTC (the same on every machine)."""
    moment = datetime.datetime.fromtimestamp(run.started_at, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def outcome(run: RunRecord, width: int = 50) -> str:
    if run.error:
        return formatting.one_line(run.error, width)
    if run.result is not None:
        return formatting.one_line(str(run.result), width)
    return ""


class WorkflowRuns(Screen[None]):
    """A table of runs (read again every few seconds) and the log of the highlighted one."""

    DEFAULT_CSS = """
    WorkflowRuns #title { height: 1; background: $boost; }
    WorkflowRuns DataTable { height: 1fr; }
    WorkflowRuns #log { height: 10; border-top: solid $panel; padding: 0 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        ("escape,f3", "app.pop_screen", "Back"),
        ("f5", "refresh", "Refresh"),
    ]

    def __init__(self, state_dir: Path, *, refresh_every: float | None = 2.0) -> None:
        super().__init__()
        self.state_dir = state_dir
        self.refresh_every = refresh_every
        self.runs: list[RunRecord] = []

    def compose(self) -> ComposeResult:
        yield Static(Text(" workflow runs", style="bold"), id="title")
        table: DataTable[Text | str] = DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        table.add_columns("run", "status", "started", "took", "outcome")
        yield table
        with VerticalScroll(id="log"):
            yield Static(id="log-text")
        yield Footer()

    async def on_mount(self) -> None:
        self.query_one("#runs", DataTable).focus()
        await self.reload()
        if self.refresh_every:
            self.set_interval(self.refresh_every, self.reload)

    async def action_refresh(self) -> None:
        await self.reload()

    async def reload(self) -> None:
        """Read the run records again (in a worker thread: it is disk work)."""
        runs = await anyio.to_thread.run_sync(load_runs, self.state_dir)
        self.runs = list(reversed(runs))
        table: DataTable[Text | str] = self.query_one("#runs", DataTable)
        row = table.cursor_row
        table.clear()
        for run in self.runs:
            took = formatting.duration(run.duration_s) if run.duration_s is not None else "-"
            status = Text(run.status.value, style=_STATUS_STYLE.get(run.status.value, ""))
            table.add_row(run.id, status, started(run), took, outcome(run), key=run.id)
        if self.runs:
            table.move_cursor(row=min(max(row, 0), len(self.runs) - 1))
        self._show_log()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_log()

    def _show_log(self) -> None:
        log = self.query_one("#log-text", Static)
        table: DataTable[Text | str] = self.query_one("#runs", DataTable)
        if not self.runs:
            log.update(Text("no workflow has run here yet: `aegis workflow run NAME`", style="dim"))
            return
        run = self.runs[min(max(table.cursor_row, 0), len(self.runs) - 1)]
        text = Text()
        text.append(run.workflow, "bold")
        if run.arguments:
            text.append("  " + " ".join(f"{k}={v}" for k, v in run.arguments.items()), "dim")
        for stamp, message in run.log:
            text.append(f"\n{stamp} ", "dim")
            text.append(message)
        if run.error:
            text.append(f"\n{run.error}", "red")
        log.update(text)
