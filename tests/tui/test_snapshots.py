"""SVG snapshots of the TUI (pytest-textual-snapshot): ``pytest --snapshot-update`` rewrites them.

Every screen is deterministic: fixed handles, a fixed clock, the offline scripted
provider (or fixed task records), no queue polling.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from aegis.events import (
    AssistantMessage,
    Error,
    Plan,
    PlanEntry,
    StopReason,
    Thinking,
    ToolCall,
    ToolKind,
    ToolResult,
    TurnEnd,
    UserMessage,
)
from aegis.queue.task import TaskRecord, TaskStatus
from aegis.workflow.runner import RunRecord, RunStatus
from aegis_tui.quitting import Running
from aegis_tui.screens.broken_state import BrokenStateScreen
from aegis_tui.screens.quit import QuitChoice
from aegis_tui.widgets.transcript import TranscriptView
from tests.tui.helpers import FixedClock, make_app, ready, settled, until, write_project

SnapCompare = Callable[..., bool]
SIZE = (100, 30)
SMALL = [pytest.param((80, 24), id="80x24"), pytest.param((40, 12), id="40x12")]
"""The sizes a layout must survive: a common terminal, and a very small one."""


def test_a_conversation_with_a_tool_call_beside_a_second_tab(
    snap_compare: SnapCompare, tmp_path: Path
) -> None:
    app = make_app(write_project(tmp_path))

    async def run_before(pilot: Pilot[Any]) -> None:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        for message in ("hello", "list"):
            await pilot.press(*message, "enter")
            await until(pilot, ready(app, "alpha"))
        await pilot.press("ctrl+t")
        await until(pilot, ready(app, "beta"))
        await pilot.press("alt+1")
        await pilot.pause()
        await until(pilot, settled(app))
        await pilot.pause()

    # Tall enough for the whole transcript: a scrollbar's thumb moves a frame late.
    assert snap_compare(app, terminal_size=(100, 34), run_before=run_before)


def test_a_message_typed_while_busy_is_shown_queued(
    snap_compare: SnapCompare, tmp_path: Path
) -> None:
    app = make_app(write_project(tmp_path, slow=60))

    async def run_before(pilot: Pilot[Any]) -> None:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        await pilot.press(*"slow", "enter")
        await until(pilot, lambda: app.tab_named("alpha").state == "busy")
        await pilot.press(*"hello", "enter")
        await until(pilot, lambda: app.tab_named("alpha").pending == ["hello"])

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


class FixedQueues:
    """A queue source with fixed tasks: the dashboard's timings stay the same."""

    def __init__(self) -> None:
        start = 1_700_000_000.0
        self.tasks = [
            TaskRecord(
                "0000000000001aaaa",
                "work",
                "count the files",
                status=TaskStatus.done,
                result="Counted: 3.",
                created_at=start - 60,
                started_at=start - 58,
                finished_at=start - 50,
                worker_handle="brisk-curie",
            ),
            TaskRecord(
                "0000000000002bbbb",
                "work",
                "lint the repo",
                status=TaskStatus.failed,
                error="the turn ended: error",
                created_at=start - 40,
                started_at=start - 39,
                finished_at=start - 30,
            ),
            TaskRecord(
                "0000000000003cccc",
                "work",
                "write the docs",
                status=TaskStatus.running,
                created_at=start - 20,
                started_at=start - 12,
            ),
            TaskRecord("0000000000004dddd", "work", "review the diff", created_at=start - 5),
        ]

    async def counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, int] = {}
        for task in self.tasks:
            counts[task.status.value] = counts.get(task.status.value, 0) + 1
        return {"work": counts}

    async def list_tasks(
        self, queue: str | None = None, status: Any = None, limit: int | None = 100
    ) -> list[TaskRecord]:
        return list(self.tasks)

    async def enqueue(
        self, queue: str, payload: str, sender: str = "user", callback: bool = False
    ) -> str:
        raise AssertionError("not in this test")

    async def cancel(self, task_id: str) -> TaskRecord:
        raise AssertionError("not in this test")

    async def retry(self, task_id: str) -> str:
        raise AssertionError("not in this test")


@pytest.mark.parametrize("size", [pytest.param(SIZE, id="100x30"), *SMALL])
def test_the_queue_dashboard(
    snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]
) -> None:
    app = make_app(write_project(tmp_path), queue_source=FixedQueues())

    async def run_before(pilot: Pilot[Any]) -> None:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        await app.refresh_queues()
        await pilot.press("f2")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


async def _first_run(root: Path) -> None:
    app = make_app(write_project(root))
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        await pilot.press(*"hello", "enter")
        await until(pilot, ready(app, "alpha"))
        await pilot.press("ctrl+q")


def test_a_restored_tab_replays_its_earlier_transcript(
    snap_compare: SnapCompare, tmp_path: Path
) -> None:
    asyncio.run(_first_run(tmp_path))
    app = make_app(write_project(tmp_path), handles=())

    async def run_before(pilot: Pilot[Any]) -> None:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_a_damaged_state_file_asks_what_to_do(snap_compare: SnapCompare, tmp_path: Path) -> None:
    project = write_project(tmp_path)
    project.state_dir.mkdir()
    (project.state_dir / "tui.json").write_text("{ damaged")
    app = make_app(project)

    async def run_before(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: isinstance(app.screen, BrokenStateScreen))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


@pytest.mark.parametrize("size", [pytest.param((100, 34), id="100x34"), *SMALL])
def test_the_help_screen(snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]) -> None:
    app = make_app(write_project(tmp_path))

    async def run_before(pilot: Pilot[Any]) -> None:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        await pilot.press("f1")

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SMALL)
def test_the_first_screen(snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]) -> None:
    app = make_app(write_project(tmp_path))

    async def run_before(pilot: Pilot[Any]) -> None:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_eight_tabs_at_80_columns(snap_compare: SnapCompare, tmp_path: Path) -> None:
    handles = [f"tab-number-{n}" for n in range(1, 9)]
    app = make_app(write_project(tmp_path), handles=handles)

    async def run_before(pilot: Pilot[Any]) -> None:
        await app.wait_ready()
        for _ in range(7):
            await pilot.press("ctrl+t")
        await until(pilot, ready(app, *handles))
        await pilot.press("alt+4")

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_the_working_line_and_a_folded_paste(snap_compare: SnapCompare, tmp_path: Path) -> None:
    clock = FixedClock()
    app = make_app(write_project(tmp_path, slow=60), clock=clock)

    async def run_before(pilot: Pilot[Any]) -> None:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        await pilot.press(*"slow", "enter")
        await until(pilot, lambda: app.tab_named("alpha").state == "busy")
        clock.now += 75
        await pilot.press(*"and then: ")
        app.post_message(events.Paste("\n".join(f"line {n}" for n in range(52))))
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_ctrl_q_asks_whether_to_detach_when_something_runs(
    snap_compare: SnapCompare, tmp_path: Path
) -> None:
    app = make_app(write_project(tmp_path))
    running = Running(
        busy=("alpha", "brisk-curie"),
        live=3,
        tasks_running=1,
        tasks_queued=2,
        runs=("20231114-221300-wait_for-cd34",),
    )

    async def run_before(pilot: Pilot[Any]) -> None:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        # What ctrl+q shows when the daemon says this runs (a hosted daemon never asks).
        app.push_screen(QuitChoice(running))
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@pytest.fixture
def utc() -> Iterator[None]:
    """Local time is UTC (the workflow view shows local times)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.mark.parametrize("size", SMALL)
def test_the_workflow_runs(
    snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int], utc: None
) -> None:
    project = write_project(tmp_path)
    runs = project.state_dir / "workflows"
    runs.mkdir(parents=True)
    start = 1_700_000_000.0
    for record in (
        RunRecord(
            "20231114-220320-wait_for-ab12",
            "wait_for",
            {"seconds": "1", "label": "docs"},
            status=RunStatus.ok,
            result={"label": "docs", "lines": ["one", "two"]},
            log=[("2023-11-14T22:10:00Z", "waiting 1s for docs")],
            started_at=start - 600,
            finished_at=start - 599,
        ),
        RunRecord(
            "20231114-221300-wait_for-cd34",
            "wait_for",
            {"label": "review"},
            log=[("2023-11-14T22:13:00Z", "waiting 60.0s for review")],
            started_at=start - 20,
        ),
    ):
        (runs / f"{record.id}.json").write_text(json.dumps(record.as_dict()))
    app = make_app(project)

    async def run_before(pilot: Pilot[Any]) -> None:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        await pilot.press("f3")
        await pilot.pause()
        await pilot.press("down")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


class BlocksApp(App[None]):
    """A transcript of every kind of block."""

    def compose(self) -> ComposeResult:
        yield TranscriptView()

    def on_mount(self) -> None:
        view = self.query_one(TranscriptView)
        long_output = "\n".join(f"src/module_{n}.py" for n in range(8))
        for event in (
            UserMessage("Refactor the reader, then tell the reviewer."),
            Thinking(
                "The reader is in transcript.py.\nIt skips torn lines.\nKeep that.\n"
                "Then split the parser.\nAnd test it."
            ),
            Plan(
                (
                    PlanEntry("read the code", "completed"),
                    PlanEntry("split the parser", "in_progress"),
                    PlanEntry("write the tests"),
                )
            ),
            ToolCall("c1", "Bash", ToolKind.execute, {"command": "ls src"}),
            ToolResult("c1", True, long_output),
            ToolCall(
                "c2",
                "Edit",
                ToolKind.edit,
                {"file_path": "src/reader.py"},
                paths=("src/reader.py",),
            ),
            ToolResult("c2", False, "permission denied"),
            AssistantMessage(
                "Done. The parser is now **two** functions:\n\n- `split()`\n- `parse()`\n"
            ),
            UserMessage("Looks good; merged.", sender="agent:steady-lovelace"),
            Error("rate limited, retrying"),
            TurnEnd(StopReason.cancelled),
        ):
            view.add_event(event)


def test_every_kind_of_block(snap_compare: SnapCompare) -> None:
    assert snap_compare(BlocksApp(), terminal_size=(90, 40))
