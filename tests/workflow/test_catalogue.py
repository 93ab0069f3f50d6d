"""The workflows shipped with aegis-core, run on the offline scripted provider."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from aegis.builtins.scripted import Scripted, ScriptedToolCall, ScriptRule
from aegis.config import Agent
from aegis.config.loader import Project
from aegis.runtime import Runtime
from aegis.workflow.runner import RunStatus

pytestmark = pytest.mark.anyio


def reviewer(name: str) -> Agent:
    return Agent(
        provider=Scripted(
            rules=[ScriptRule(match=r"Review this diff", reply=f"- app.py:1: {name} says fine")]
        )
    )


def project_at(root: Path, agents: dict[str, Agent]) -> Project:
    return Project(root / ".aegis.py", agents, next(iter(agents)))


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


async def test_branch_review_merges_every_reviewer_report_into_one_file(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    git(
        tmp_path,
        "-c",
        "user.email=a@b",
        "-c",
        "user.name=t",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "base",
    )
    git(tmp_path, "checkout", "-q", "-b", "feature")
    (tmp_path / "app.py").write_text("print('hello')\n")
    git(tmp_path, "add", "app.py")
    git(tmp_path, "-c", "user.email=a@b", "-c", "user.name=t", "commit", "-q", "-m", "feature")
    project = project_at(tmp_path, {"alice": reviewer("alice"), "bob": reviewer("bob")})
    async with Runtime(project, mcp=False) as runtime:
        record = await runtime.workflows.run(
            "branch_review", {"reviewers": "alice,bob", "base": "main"}
        )
        sessions = runtime.sessions.list_sessions()
    assert record.status is RunStatus.ok, record.error
    report = (tmp_path / "REVIEW.md").read_text()
    assert record.result == str(tmp_path / "REVIEW.md")
    assert "## alice\n\n- app.py:1: alice says fine" in report
    assert "## bob\n\n- app.py:1: bob says fine" in report
    assert {s.profile for s in sessions} == {"alice", "bob"}
    assert all(s.state.value == "closed" for s in sessions)


async def test_branch_review_fails_cleanly_without_changes_or_reviewers(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    git(
        tmp_path,
        "-c",
        "user.email=a@b",
        "-c",
        "user.name=t",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "base",
    )
    project = project_at(tmp_path, {"alice": reviewer("alice")})
    async with Runtime(project, mcp=False) as runtime:
        empty = await runtime.workflows.run("branch_review", {"reviewers": "alice"})
        unknown = await runtime.workflows.run("branch_review", {"reviewers": "zed"})
    assert empty.status is RunStatus.failed
    assert "nothing to review" in (empty.error or "")
    assert unknown.status is RunStatus.failed
    assert "unknown reviewer profile(s): zed" in (unknown.error or "")


def implementer(fixes: bool) -> Agent:
    tool_calls = (ScriptedToolCall(tool="bash", input={"command": "touch fixed.txt"}),)
    return Agent(
        provider=Scripted(
            rules=[
                ScriptRule(
                    match=r"must pass|still fails",
                    tool_calls=tool_calls if fixes else (),
                    reply="I worked on it.",
                )
            ]
        )
    )


async def test_tdd_loop_keeps_the_implementer_going_until_the_predicate_passes(
    tmp_path: Path,
) -> None:
    project = project_at(tmp_path, {"dev": implementer(fixes=True)})
    async with Runtime(project, mcp=False) as runtime:
        record = await runtime.workflows.run(
            "tdd_loop",
            {"predicate": "test -f fixed.txt", "task": "Create fixed.txt", "implementer": "dev"},
        )
    assert record.status is RunStatus.ok, record.error
    assert record.result == "`test -f fixed.txt` passes after 1 round(s)"
    assert (tmp_path / "fixed.txt").exists()


async def test_tdd_loop_gives_up_after_its_rounds(tmp_path: Path) -> None:
    project = project_at(tmp_path, {"dev": implementer(fixes=False)})
    async with Runtime(project, mcp=False) as runtime:
        record = await runtime.workflows.run(
            "tdd_loop",
            {
                "predicate": "test -f fixed.txt",
                "task": "Create fixed.txt",
                "implementer": "dev",
                "max_rounds": "2",
            },
        )
    assert record.status is RunStatus.failed
    assert record.error == "`test -f fixed.txt` still fails after 2 round(s)"
    rounds = [m for _, m in record.log if "predicate failed" in m]
    assert len(rounds) == 2
