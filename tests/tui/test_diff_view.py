"""The diff view: a tab's (f4) or a queue task's (d on the dashboard) changes in its worktree."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from aegis.config.loader import Project, load_project
from aegis_tui.screens.diff import DiffScreen
from aegis_tui.screens.queues import QueueDashboard
from tests.tui.helpers import make_app, ready, until

SnapCompare = Callable[..., bool]

CONFIG = """
from aegis.builtins.scripted import Scripted, ScriptedToolCall, ScriptRule
from aegis.config import Agent
from aegis.queue import Queue

PARSER = '''def parse(text):
    \"\"\"Split a line into words.\"\"\"
    return text.split()
'''
write = ScriptRule(
    match=r"^fix",
    tool_calls=[
        ScriptedToolCall(tool="write_file", input={"path": "parser.py", "content": PARSER}),
        ScriptedToolCall(tool="write_file", input={"path": "NOTES.md", "content": "- fixed\\n"}),
    ],
    reply="Fixed the parser.",
)
agents = {"coder": Agent(provider=Scripted(rules=[write]), workspace="worktree")}
default_agent = "coder"
queues = [Queue("fixes", agent_profile="coder", max_parallel=1)]
"""


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


def repository_project(root: Path) -> Project:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "parser.py").write_text("def parse(text):\n    return text.split(',')\n")
    (root / ".gitignore").write_text(".aegis/\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    (root / ".aegis.py").write_text(CONFIG)
    return load_project([root])


def text_of(app: Any, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


@pytest.mark.anyio
async def test_f4_shows_the_tabs_changes_and_d_a_queue_tasks(tmp_path: Path) -> None:
    project = repository_project(tmp_path / "repo")
    app = make_app(project)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        await pilot.press(*"fix it", "enter")
        await until(pilot, ready(app, "alpha"))
        await pilot.press("f4")
        await until(pilot, lambda: isinstance(app.screen, DiffScreen))
        await until(pilot, lambda: "changed" in text_of(app, "#diff-title"))
        assert "aegis/alpha → main · active · 2 files changed, +3 -1" in text_of(app, "#diff-title")
        files = text_of(app, "#diff-files")
        assert "NOTES.md" in files and "parser.py" in files
        assert isinstance(app.screen, DiffScreen)
        assert "-    return text.split(',')\n" in app.screen.diff_text
        assert "+    return text.split()\n" in app.screen.diff_text
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, DiffScreen))
        # A queue task's worker: its worktree, once the task is done.
        task_id = await app.queues.enqueue("fixes", "fix it too")  # type: ignore[union-attr]
        assert app.client is not None
        done = await app.client.wait_task(task_id, timeout=30)
        assert done["workspace"]["stat"] == "2 files changed, +3 -1"
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, QueueDashboard))
        await until(pilot, lambda: bool(app.screen.tasks))  # type: ignore[attr-defined]
        await pilot.press("tab", "d")
        await until(pilot, lambda: isinstance(app.screen, DiffScreen))
        await until(pilot, lambda: "changed" in text_of(app, "#diff-title"))
        assert "kept · 2 files changed, +3 -1" in text_of(app, "#diff-title")
    assert (tmp_path / "repo" / "parser.py").read_text().endswith("split(',')\n")


def test_the_diff_view(snap_compare: SnapCompare, tmp_path: Path) -> None:
    project = repository_project(tmp_path / "repo")
    app = make_app(project)

    async def run_before(pilot: Pilot[Any]) -> None:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        await pilot.press(*"fix it", "enter")
        await until(pilot, ready(app, "alpha"))
        await pilot.press("f4")
        await until(pilot, lambda: isinstance(app.screen, DiffScreen))
        await until(pilot, lambda: "changed" in text_of(app, "#diff-title"))
        await pilot.pause()

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)
