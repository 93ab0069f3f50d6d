"""The queue dashboard and the workflow view act (issue 16 item 7), through a real daemon."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.screen import Screen
from textual.widget import Widget

from aegis.queue.task import TaskStatus
from aegis.workflow.runner import load_runs
from aegis_tui.app import AegisApp
from aegis_tui.screens.ask_text import AskText
from aegis_tui.screens.queues import QueueDashboard, WorkerTranscript
from aegis_tui.screens.workflows import WorkflowRuns, ago, full_result, parse_start
from aegis_tui.widgets.transcript import TranscriptView
from tests.tui.helpers import make_app, ready, until, write_project

pytestmark = pytest.mark.anyio


async def _status(app: AegisApp, task_id: str, status: str) -> bool:
    """Whether the daemon says task ``task_id`` has ``status``."""
    return bool((await app.daemon.task(task_id))["status"] == status)


async def test_a_running_task_shows_its_worker_live_is_cancelled_then_retried(
    tmp_path: Path,
) -> None:
    app = make_app(write_project(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, QueueDashboard))
        dashboard = app.screen
        assert isinstance(dashboard, QueueDashboard)
        await pilot.press(*"count slowly", "enter")
        await until(pilot, lambda: bool(dashboard.tasks) and dashboard.tasks[-1].worker_handle)
        await dashboard.reload()
        task = dashboard.tasks[-1]
        await pilot.press("tab")  # to the task list
        await pilot.press("enter")
        await until(pilot, lambda: _shows(app, WorkerTranscript, TranscriptView))
        view = app.screen.query_one(TranscriptView)

        def text() -> str:
            return "\n".join(block.plain() for block in view.timeline.blocks)

        await until(pilot, lambda: "count slowly" in text())
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is dashboard)
        await pilot.press("c")
        await until(pilot, lambda: dashboard.tasks[-1].status is TaskStatus.cancelled)
        await pilot.press("r")
        await until(pilot, lambda: len(dashboard.tasks) == 2)
        retried = dashboard.tasks[-1]
        assert retried.retry_of == task.id and retried.payload == "count slowly"


async def test_a_finished_task_s_worker_opens_as_a_resumed_tab(tmp_path: Path) -> None:
    app = make_app(write_project(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        task = await app.daemon.enqueue("work", "count the files")
        await until(pilot, lambda: _status(app, task["id"], "done"), timeout=30)
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, QueueDashboard))
        dashboard = app.screen
        assert isinstance(dashboard, QueueDashboard)
        await dashboard.reload()
        worker = dashboard.tasks[-1].worker_handle
        assert worker is not None
        await pilot.press("tab", "t")
        await until(pilot, lambda: app.current is not None and app.current.handle == worker)
        await until(pilot, ready(app, worker), timeout=30)
        assert app.tab_named(worker).profile == "worker"
        await pilot.press(*"count again", "enter")
        await until(pilot, lambda: app.tab_named(worker).usage.output_tokens > 0)


async def test_a_workflow_started_from_the_view_shows_its_result_and_can_be_cancelled(
    tmp_path: Path,
) -> None:
    project = write_project(tmp_path)
    app = make_app(project)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        await pilot.press("f3")
        await until(pilot, lambda: isinstance(app.screen, WorkflowRuns))
        runs = app.screen
        assert isinstance(runs, WorkflowRuns)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, AskText))
        await pilot.press(*"seconds=0.1 label=quick", "enter")
        await until(pilot, lambda: [r.status.value for r in load_runs(project.state_dir)] == ["ok"])
        await runs.reload()
        shown = str(runs.query_one("#log-text").render())
        assert '"label": "quick"' in shown and '"one",' in shown  # the whole result
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, AskText))
        await pilot.press(*"label=long", "enter")  # seconds: the default, 60
        await until(pilot, lambda: len(load_runs(project.state_dir)) == 2)
        await runs.reload()
        assert runs.runs[0].status.value == "running"
        await pilot.press("c")
        await until(pilot, lambda: load_runs(project.state_dir)[-1].status.value == "failed")
        assert load_runs(project.state_dir)[-1].error == "cancelled"
        # Resumed from the view: the same run again, a second attempt.
        await runs.reload()
        await pilot.press("r")
        await until(pilot, lambda: load_runs(project.state_dir)[-1].attempt == 2)
        resumed = load_runs(project.state_dir)[-1]
        assert (resumed.id, resumed.status.value) == (runs.runs[0].id, "running")
        await runs.reload()
        await pilot.press("c")
        await until(pilot, lambda: load_runs(project.state_dir)[-1].status.value == "failed")


async def test_a_workflow_s_sessions_are_not_tabs_and_open_from_its_run(tmp_path: Path) -> None:
    app = make_app(write_project(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        run = await app.daemon.run_workflow("ask_worker", {"text": "count slowly"})
        await until(pilot, lambda: has_session(app, run.id))
        [handle] = await app.run_sessions(run.id)
        await app.refresh_sessions()
        assert [t.handle for t in app.tabs] == ["alpha"]  # the run's session is no tab
        await pilot.press("f3")
        await until(pilot, lambda: isinstance(app.screen, WorkflowRuns))
        runs = app.screen
        assert isinstance(runs, WorkflowRuns)
        await until(pilot, lambda: run.id in runs.run_sessions)
        await pilot.pause()
        assert f"sessions: {handle}" in str(runs.query_one("#log-text").render())
        await pilot.press("enter")
        await until(pilot, lambda: _shows(app, WorkerTranscript, TranscriptView))
        assert app.screen.handle == handle  # type: ignore[attr-defined]
        view = app.screen.query_one(TranscriptView)
        await until(pilot, lambda: "count slowly" in view.visible_text())
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is runs)
        await pilot.press("c")
        await until(pilot, lambda: run_ended(app, run.id))


async def has_session(app: AegisApp, run_id: str) -> bool:
    return bool(await app.run_sessions(run_id))


async def run_ended(app: AegisApp, run_id: str) -> bool:
    return (await app.daemon.workflow(run_id)).status.value != "running"


def test_run_times_read_relative_and_arguments_parse() -> None:
    assert [ago(s) for s in (1, 40, 300, 7200, 200000)] == [
        "just now",
        "40s ago",
        "5m ago",
        "2h ago",
        "2d ago",
    ]
    assert parse_start('wait_for seconds=2 label="a b"') == (
        "wait_for",
        {"seconds": "2", "label": "a b"},
    )
    with pytest.raises(ValueError, match="not key=value"):
        parse_start("wait_for seconds")
    assert full_result({"a": [1]}) == '{\n  "a": [\n    1\n  ]\n}'


def _shows(app: AegisApp, screen: type[Screen[Any]], widget: type[Widget]) -> bool:
    """Whether the screen shown is a ``screen`` that has composed its ``widget``."""
    return isinstance(app.screen, screen) and bool(app.screen.query(widget))
