"""Reviewing and landing agents' work: queue tasks in worktrees, then ``aegis diff``,
``aegis land`` and ``aegis discard`` as a person runs them (real ``aegis`` processes),
and the ``best_of_n`` workflow; on real git repositories."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from aegis.builtins.scripted import Scripted, ScriptedToolCall, ScriptRule
from aegis.config import Agent
from aegis.config.loader import Project
from aegis.events import UserMessage
from aegis.queue import Queue
from aegis.runtime import Runtime
from aegis.workflow.runner import RunStatus
from tests.fixtures.fakes import aegis_in
from tests.workspace.test_worktrees import WRITER, branches, git, repository, worktrees

CONFIG = """
from aegis.builtins.scripted import Scripted
from aegis.config import Agent
agents = {"coder": Agent(provider=Scripted(), workspace="worktree")}
default_agent = "coder"
"""


@pytest.fixture(scope="module")
def tasks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], str]:
    """A repository whose queue ran three tasks in worktrees: two that edit the same file
    and one that adds a file. Returns the folder, ``{name: task id}`` and the callback."""
    root = repository(tmp_path_factory.mktemp("review") / "repo")
    (root / ".aegis.py").write_text(CONFIG)
    git(root, "add", ".aegis.py")
    git(root, "commit", "-qm", "aegis")
    agents = {
        "coder": Agent(provider=WRITER, workspace="worktree"),
        "boss": Agent(provider=Scripted(rules=[ScriptRule(match=".", reply="noted")])),
    }
    project = Project(
        root / ".aegis.py", agents, "coder", queues={"work": Queue("work", "coder", 3)}
    )
    ids: dict[str, str] = {}
    callbacks: list[str] = []

    async def run() -> None:
        async with Runtime(project, mcp=False) as runtime:
            boss = await runtime.sessions.spawn("boss")
            with runtime.sessions.subscribe(boss) as events:
                for name, payload in (
                    ("one", "write shared.txt one"),
                    ("two", "write shared.txt two"),
                    ("new", "write new.txt fresh"),
                ):
                    ids[name] = await runtime.queues.enqueue(
                        "work", payload, sender=f"agent:{boss}", callback=True
                    )
                for task_id in ids.values():
                    await runtime.queues.wait(task_id, timeout=60)
                with anyio.fail_after(30):
                    async for _, event in events:
                        if isinstance(event, UserMessage) and event.sender == "queue:work":
                            callbacks.append(event.text)
                            if len(callbacks) == 3:
                                break
            record = await runtime.queues.get(ids["one"])
            assert record is not None and record.workspace is not None
            assert record.workspace["branch"] == f"aegis/{record.worker_handle}"
            assert record.workspace["stat"] == "1 file changed, +1 -1"
            assert record.as_dict()["workspace"]["state"] == "kept"

    anyio.run(run)
    callback = next(text for text in callbacks if ids["one"] in text)
    return root, ids, callback


def test_a_task_callback_names_the_branch_and_its_diff_stat(
    tasks: tuple[Path, dict[str, str], str],
) -> None:
    root, ids, callback = tasks
    assert f"Task {ids['one']} on queue 'work': ok." in callback
    assert "Its changes are on branch aegis/" in callback
    assert "(1 file changed, +1 -1)" in callback and f"`aegis land {ids['one']}`" in callback
    # Three workers edited at once, each in its own worktree: the base is untouched.
    assert (root / "shared.txt").read_text() == "base\n" and len(branches(root)) == 4


def test_aegis_diff_shows_stat_and_diff_with_colour_only_when_asked(
    tasks: tuple[Path, dict[str, str], str],
) -> None:
    root, ids, _ = tasks
    listing = aegis_in(root, "diff")
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.count("1 file changed") == 3 and "kept" in listing.stdout
    plain = aegis_in(root, "diff", ids["one"])
    assert plain.returncode == 0, plain.stderr
    assert "against main: 1 file changed, +1 -1" in plain.stdout
    assert "\n-base\n+one\n" in plain.stdout and "\x1b[" not in plain.stdout
    coloured = aegis_in(root, "diff", ids["one"], "--color")
    assert "\x1b[" in coloured.stdout
    data = json.loads(aegis_in(root, "diff", ids["new"], "--json").stdout)
    assert data["stat"]["files"] == [{"path": "new.txt", "added": 1, "deleted": 0}]
    assert data["base"] == "main" and "+fresh" in data["diff"]
    shown = aegis_in(root, "queue", "show", ids["new"])
    assert "  branch:   aegis/" in shown.stdout and "(1 file changed, +1 -0)" in shown.stdout
    missing = aegis_in(root, "diff", "no-such-thing")
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: no worktree of a session or task 'no-such-thing'")


def test_aegis_land_lands_the_first_and_reports_the_conflict_of_the_second(
    tasks: tuple[Path, dict[str, str], str],
) -> None:
    root, ids, _ = tasks
    second_branch = json.loads(aegis_in(root, "diff", ids["two"], "--json").stdout)["branch"]
    second_tip = git(root, "rev-parse", second_branch)
    first = aegis_in(root, "land", ids["one"])
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("landed aegis/") and "into main (merge)" in first.stdout
    main = git(root, "rev-parse", "main")
    second = aegis_in(root, "land", ids["two"], "--squash")
    assert second.returncode == 1
    assert f"error: {second_branch} conflicts with main: shared.txt" in second.stderr
    assert "hint: resolve it in the agent's branch" in second.stderr
    assert git(root, "rev-parse", "main") == main and (root / "shared.txt").read_text() == "one\n"
    assert git(root, "rev-parse", second_branch) == second_tip
    assert git(root, "status", "--porcelain") == ""
    again = aegis_in(root, "land", ids["one"])
    assert again.returncode == 1 and "was landed" in again.stderr


def test_aegis_discard_asks_first_and_pr_says_what_it_needs(
    tasks: tuple[Path, dict[str, str], str],
) -> None:
    root, ids, _ = tasks
    pr = aegis_in(root, "land", ids["new"], "--pr")
    assert pr.returncode == 1
    assert "gh" in pr.stderr and ("not installed" in pr.stderr or "not signed in" in pr.stderr)
    refused = aegis_in(root, "discard", ids["new"])
    assert refused.returncode == 1 and "confirm with --yes" in refused.stderr
    branch = json.loads(aegis_in(root, "diff", ids["new"], "--json").stdout)["branch"]
    assert branch in branches(root)
    done = aegis_in(root, "discard", ids["new"], "--yes")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"discarded {branch} (1 file changed, +1 -0)"
    assert branch not in branches(root) and not (root / "new.txt").exists()


@pytest.mark.anyio
async def test_best_of_n_lands_the_candidate_the_reviewer_chose_and_discards_the_rest(
    tmp_path: Path,
) -> None:
    root = repository(tmp_path / "repo")
    implementer = Scripted(
        rules=[
            ScriptRule(
                match=r"^Implement",
                reply="done",
                # Each candidate writes its own branch's name: the candidates differ.
                tool_calls=(
                    ScriptedToolCall(
                        tool="bash", input={"command": "git branch --show-current > answer.txt"}
                    ),
                ),
            )
        ]
    )
    judge = Scripted(rules=[ScriptRule(match=r"Candidate 2", reply="the second\nCHOICE: 2")])
    agents = {"impl": Agent(provider=implementer), "judge": Agent(provider=judge)}
    project = Project(root / ".aegis.py", agents, "impl")
    async with Runtime(project, mcp=False) as runtime:
        record = await runtime.workflows.run(
            "best_of_n",
            {
                "task": "Implement the answer",
                "implementer": "impl",
                "reviewer": "judge",
                "check": "test -s answer.txt",
                "n": "3",
            },
        )
    assert record.status is RunStatus.ok, record.error
    landed = (root / "answer.txt").read_text().strip()
    assert record.result is not None and record.result.startswith(f"landed {landed} into main")
    assert "3 of 3 passed" in record.result
    assert branches(root) == ["main"] and worktrees(root) == [str(root.resolve())]
    log = "\n".join(message for _, message in record.log)
    assert "chose " in log and "discarded aegis/" in log
