"""Sessions in git worktrees of their own, on real repositories made by the tests.

The offline ``scripted`` agent edits files with its ``write_file`` tool; git is the
real git. Each test checks what git itself says afterwards (branches, worktrees,
files of the base), not only what aegis reports.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from aegis.builtins.scripted import Scripted, ScriptedToolCall, ScriptRule
from aegis.config import Agent
from aegis.config.loader import Project
from aegis.runtime import Runtime
from aegis.workspace import (
    LandConflict,
    Strategy,
    WorkspaceError,
    WorktreeState,
    discard,
    land,
)

pytestmark = pytest.mark.anyio

WRITER = Scripted(
    rules=[
        ScriptRule(
            match=r"^write (\S+) (.*)$",
            reply="wrote {1}",
            tool_calls=(
                ScriptedToolCall(tool="write_file", input={"path": "{1}", "content": "{2}\n"}),
            ),
        ),
        ScriptRule(
            match=r"^where$",
            reply="{output}",
            tool_calls=(
                ScriptedToolCall(tool="bash", input={"command": "pwd; git branch --show-current"}),
            ),
        ),
        ScriptRule(match=r"^hello$", reply="hi"),
        ScriptRule(
            match=r"^meta$",
            reply="{output}",
            tool_calls=(ScriptedToolCall(tool="mcp:aegis/aegis_meta", input={}),),
        ),
    ]
)


def git(root: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=root,
        capture_output=True,
        text=True,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {done.stderr}")
    return done.stdout.strip()


def repository(root: Path, files: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    for name, text in (files or {"shared.txt": "base\n"}).items():
        (root / name).write_text(text)
    (root / ".gitignore").write_text(".aegis/\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    return root


def project(root: Path, **agent: object) -> Project:
    agents = {
        "coder": Agent(provider=WRITER, workspace="worktree", **agent),  # type: ignore[arg-type]
        "plain": Agent(provider=WRITER),
    }
    return Project(root / ".aegis.py", agents, "coder")


def branches(root: Path) -> list[str]:
    return sorted(git(root, "branch", "--format=%(refname:short)").splitlines())


def worktrees(root: Path) -> list[str]:
    return [
        line.removeprefix("worktree ")
        for line in git(root, "worktree", "list", "--porcelain").splitlines()
        if line.startswith("worktree ")
    ]


async def test_a_worktree_session_works_on_its_own_branch_and_keeps_its_changes(
    tmp_path: Path,
) -> None:
    root = repository(tmp_path / "repo")
    async with Runtime(project(root), mcp=False) as runtime:
        handle = await runtime.sessions.spawn("coder")
        info = runtime.sessions.get(handle)
        folder = root / ".aegis" / "worktrees" / handle
        assert info.cwd == folder.resolve() and info.branch == f"aegis/{handle}"
        where = await runtime.sessions.request(handle, "where")
        assert where.text.split() == [str(folder.resolve()), f"aegis/{handle}"]
        await runtime.sessions.request(handle, "write shared.txt from the agent")
        assert (folder / "shared.txt").read_text() == "from the agent\n"
        assert (root / "shared.txt").read_text() == "base\n"
        await runtime.sessions.close(handle)
        record = runtime.sessions.worktrees.load(handle)
    assert record is not None and record.state is WorktreeState.kept
    assert record.stat is not None and record.stat.summary() == "1 file changed, +1 -1"
    # The work is committed on the branch; the base and its checkout are untouched.
    assert git(root, "show", f"aegis/{handle}:shared.txt") == "from the agent"
    assert git(root, "status", "--porcelain") == "" and git(root, "log", "--format=%s") == "base"
    assert branches(root) == ["aegis/" + handle, "main"] and len(worktrees(root)) == 2
    meta = json.loads((root / ".aegis/sessions" / handle / "session.json").read_text())
    assert meta["worktree"] == handle and meta["branch"] == f"aegis/{handle}"


async def test_a_session_without_changes_leaves_no_worktree_and_no_branch(tmp_path: Path) -> None:
    root = repository(tmp_path / "repo")
    async with Runtime(project(root), mcp=False) as runtime:
        handle = await runtime.sessions.spawn("coder")
        await runtime.sessions.request(handle, "hello")
        # A live session's worktree stays, and a shared-workspace session gets none.
        plain = await runtime.sessions.spawn("plain")
        assert runtime.sessions.get(plain).cwd == root.resolve()
        assert runtime.sessions.get(plain).branch is None
        assert len(worktrees(root)) == 2
    assert branches(root) == ["main"] and worktrees(root) == [str(root.resolve())]
    assert not (root / ".aegis/worktrees" / handle).exists()
    record = runtime.sessions.worktrees.load(handle)
    assert record is not None and record.state is WorktreeState.removed


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        ("not a repository", "is not in a git repository"),
        ("detached", "HEAD of"),
        ("branch exists", "exists already"),
        ("no commit", "has no commit yet"),
        ("unknown base", "is not a local branch"),
    ],
)
async def test_a_worktree_that_cannot_be_made_is_a_clear_error_and_leaves_nothing(
    tmp_path: Path, setup: str, words: str
) -> None:
    root = tmp_path / "repo"
    agent: dict[str, object] = {}
    if setup == "not a repository":
        root.mkdir()
    elif setup == "no commit":
        root.mkdir()
        git(root, "init", "-q", "-b", "main")
    else:
        repository(root)
    if setup == "detached":
        git(root, "checkout", "-q", "--detach")
    if setup == "branch exists":
        git(root, "branch", "aegis/taken")
    if setup == "unknown base":
        agent["workspace_base"] = "v9"
    before = branches(root) if setup != "not a repository" else []
    async with Runtime(project(root, **agent), mcp=False) as runtime:
        with pytest.raises(WorkspaceError, match=words) as caught:
            await runtime.sessions.spawn("coder", "taken")
        assert caught.value.hint
        assert runtime.sessions.list_sessions() == []
    assert not (root / ".aegis/worktrees/taken").exists()
    assert not (root / ".aegis/worktrees/taken.json").exists()
    if setup != "not a repository":
        assert branches(root) == before and len(worktrees(root)) == 1


async def test_uncommitted_changes_of_the_base_stay_out_of_the_worktree(tmp_path: Path) -> None:
    root = repository(tmp_path / "repo")
    (root / "shared.txt").write_text("my unsaved edit\n")
    async with Runtime(project(root), mcp=False) as runtime:
        handle = await runtime.sessions.spawn("coder")
        record = runtime.sessions.worktrees.load(handle)
        assert record is not None and record.base_dirty and record.base == "main"
        assert (record.path / "shared.txt").read_text() == "base\n"
    assert (root / "shared.txt").read_text() == "my unsaved edit\n"


async def test_landing_two_conflicting_branches_lands_the_first_and_reports_the_second(
    tmp_path: Path,
) -> None:
    root = repository(tmp_path / "repo")
    async with Runtime(project(root), mcp=False) as runtime:
        first = await runtime.sessions.spawn("coder")
        second = await runtime.sessions.spawn("coder")
        await runtime.sessions.request(first, "write shared.txt first")
        await runtime.sessions.request(second, "write shared.txt second")
        await runtime.sessions.close(first)
        await runtime.sessions.close(second)
        store = runtime.sessions.worktrees
        one, two = store.load(first), store.load(second)
        assert one is not None and two is not None
        second_tip = git(root, "rev-parse", f"aegis/{second}")
        landed = await land(store, one)
        assert landed.stat.summary() == "1 file changed, +1 -1"
        main_after_first = git(root, "rev-parse", "main")
        with pytest.raises(LandConflict, match="conflicts with main") as caught:
            await land(store, two, Strategy.squash)
        assert caught.value.files == ["shared.txt"]
        assert store.load(second).state is WorktreeState.kept  # type: ignore[union-attr]
    # The first is in main (checked out: the file changed in the checkout too).
    assert (root / "shared.txt").read_text() == "first\n" and git(
        root, "status", "--porcelain"
    ) == ""
    assert git(root, "rev-parse", "main") == main_after_first == landed.commit
    assert git(root, "rev-list", "--parents", "-n1", "main").count(" ") == 2  # a merge commit
    # The second: branch and worktree intact, base untouched by the failed landing.
    assert branches(root) == ["aegis/" + second, "main"]
    assert git(root, "rev-parse", f"aegis/{second}") == second_tip
    assert (root / ".aegis/worktrees" / second / "shared.txt").read_text() == "second\n"
    assert store.load(first).state is WorktreeState.landed  # type: ignore[union-attr]


@pytest.mark.parametrize("strategy", [Strategy.squash, Strategy.rebase])
async def test_squash_and_rebase_land_onto_a_base_that_moved_on(
    tmp_path: Path, strategy: Strategy
) -> None:
    root = repository(tmp_path / "repo", {"a.txt": "a\n", "b.txt": "b\n"})
    async with Runtime(project(root), mcp=False) as runtime:
        handle = await runtime.sessions.spawn("coder")
        await runtime.sessions.request(handle, "write a.txt agent")
        await runtime.sessions.close(handle)
        (root / "b.txt").write_text("person\n")
        git(root, "commit", "-qam", "a person's commit")
        record = runtime.sessions.worktrees.load(handle)
        assert record is not None
        result = await land(runtime.sessions.worktrees, record, strategy)
    assert (root / "a.txt").read_text() == "agent\n" and (root / "b.txt").read_text() == "person\n"
    assert git(root, "rev-parse", "main") == result.commit
    assert git(root, "rev-list", "--parents", "-n1", "main").count(" ") == 1  # linear
    assert branches(root) == ["main"] and worktrees(root) == [str(root.resolve())]


async def test_landing_refuses_to_overwrite_uncommitted_changes_of_the_checkout(
    tmp_path: Path,
) -> None:
    root = repository(tmp_path / "repo")
    async with Runtime(project(root), mcp=False) as runtime:
        handle = await runtime.sessions.spawn("coder")
        await runtime.sessions.request(handle, "write shared.txt agent")
        with pytest.raises(WorkspaceError, match="still working"):
            await land(runtime.sessions.worktrees, runtime.sessions.worktrees.load(handle))  # type: ignore[arg-type]
        await runtime.sessions.close(handle)
        (root / "shared.txt").write_text("mine, unsaved\n")
        before = git(root, "rev-parse", "main")
        record = runtime.sessions.worktrees.load(handle)
        assert record is not None
        with pytest.raises(LandConflict, match="uncommitted changes"):
            await land(runtime.sessions.worktrees, record)
    assert (root / "shared.txt").read_text() == "mine, unsaved\n"
    assert git(root, "rev-parse", "main") == before and f"aegis/{handle}" in branches(root)


async def test_discard_removes_the_worktree_and_the_branch(tmp_path: Path) -> None:
    root = repository(tmp_path / "repo")
    async with Runtime(project(root), mcp=False) as runtime:
        handle = await runtime.sessions.spawn("coder")
        await runtime.sessions.request(handle, "write new.txt thrown away")
        await runtime.sessions.close(handle)
        record = runtime.sessions.worktrees.load(handle)
        assert record is not None
        gone = await discard(runtime.sessions.worktrees, record)
    assert gone.state is WorktreeState.discarded and gone.stat is not None
    assert branches(root) == ["main"] and worktrees(root) == [str(root.resolve())]
    assert not (root / "new.txt").exists()


async def test_a_resumed_session_works_in_the_worktree_of_its_conversation(tmp_path: Path) -> None:
    root = repository(tmp_path / "repo")
    async with Runtime(project(root), mcp=False) as runtime:
        handle = await runtime.sessions.spawn("coder")
        await runtime.sessions.request(handle, "write notes.txt draft")
        conversation = runtime.sessions.get(handle).harness_session_id
        await runtime.sessions.close(handle)
        again = await runtime.sessions.spawn("coder", resume=conversation)
        info = runtime.sessions.get(again)
        assert info.cwd == (root / ".aegis/worktrees" / handle).resolve()
        assert info.branch == f"aegis/{handle}" and again != handle
        # The offline agent keeps its histories in the folder: it found the conversation.
        turn = await runtime.sessions.request(again, "hello")
        assert turn.ok
    record = runtime.sessions.worktrees.load(handle)
    assert record is not None and record.state is WorktreeState.kept and record.session == again


async def test_aegis_meta_tells_the_agent_its_branch_and_folder(tmp_path: Path) -> None:
    root = repository(tmp_path / "repo")
    async with Runtime(project(root)) as runtime:
        handle = await runtime.sessions.spawn("coder")
        meta = json.loads((await runtime.sessions.request(handle, "meta")).text)
        plain = await runtime.sessions.spawn("plain")
        shared = json.loads((await runtime.sessions.request(plain, "meta")).text)
    assert meta["branch"] == f"aegis/{handle}" and meta["base"] == "main"
    assert meta["folder"] == str((root / ".aegis/worktrees" / handle).resolve())
    assert shared["branch"] is None and shared["folder"] == str(root.resolve())


async def test_a_queue_gives_its_workers_worktrees_whatever_the_profile_says(
    tmp_path: Path,
) -> None:
    from aegis.errors import ConfigError
    from aegis.queue import Queue

    with pytest.raises(ConfigError, match="workspace must be 'project' or 'worktree'"):
        Queue("bad", "plain", 1, workspace="tree")
    root = repository(tmp_path / "repo")
    base = project(root)
    queued = Project(
        base.path,
        base.agents,
        "plain",
        queues={"edits": Queue("edits", "plain", max_parallel=2, warm=1, workspace="worktree")},
    )
    async with Runtime(queued, mcp=False) as runtime:
        first = await runtime.queues.enqueue("edits", "write shared.txt queued")
        second = await runtime.queues.enqueue("edits", "write other.txt too")
        done = [await runtime.queues.wait(task_id, timeout=60) for task_id in (first, second)]
    for task in done:
        assert task.status.value == "done" and task.workspace is not None, task
        assert task.workspace["branch"] == f"aegis/{task.worker_handle}"
        assert task.workspace["stat"] == "1 file changed, +1 " + (
            "-1" if "shared" in task.payload else "-0"
        )
    assert (root / "shared.txt").read_text() == "base\n" and not (root / "other.txt").exists()
    # The warm worker left over was closed unused: its worktree is gone with it.
    assert len(worktrees(root)) == 3 and len(branches(root)) == 3


def test_the_cli_says_why_a_worktree_session_cannot_start(tmp_path: Path) -> None:
    from tests.fixtures.fakes import aegis_in

    (tmp_path / ".aegis.py").write_text(
        "from aegis.builtins.scripted import Scripted\n"
        "from aegis.config import Agent\n"
        "agents = {'coder': Agent(provider=Scripted(), workspace='worktree')}\n"
        "default_agent = 'coder'\n"
    )
    done = aegis_in(tmp_path, "--no-daemon", "ask", "coder", "hi")
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: {tmp_path} is not in a git repository")
    assert "\n  hint: `git init && git add -A && git commit -m start` there" in done.stderr


async def test_a_rebase_that_conflicts_changes_nothing_and_leaves_no_scratch_worktree(
    tmp_path: Path,
) -> None:
    root = repository(tmp_path / "repo")
    async with Runtime(project(root), mcp=False) as runtime:
        first = await runtime.sessions.spawn("coder")
        second = await runtime.sessions.spawn("coder")
        await runtime.sessions.request(first, "write shared.txt first")
        await runtime.sessions.request(second, "write shared.txt second")
        await runtime.sessions.close(first)
        await runtime.sessions.close(second)
        store = runtime.sessions.worktrees
        await land(store, store.load(first), Strategy.rebase, keep_branch=True)  # type: ignore[arg-type]
        main, tip = git(root, "rev-parse", "main"), git(root, "rev-parse", f"aegis/{second}")
        with pytest.raises(LandConflict) as caught:
            await land(store, store.load(second), Strategy.rebase)  # type: ignore[arg-type]
    assert caught.value.files == ["shared.txt"]
    assert (
        git(root, "rev-parse", "main") == main and git(root, "rev-parse", f"aegis/{second}") == tip
    )
    # The first branch was kept on request; no scratch worktree of the rebase is left.
    assert branches(root) == sorted(["main", f"aegis/{first}", f"aegis/{second}"])
    assert worktrees(root) == [
        str(root.resolve()),
        str((root / ".aegis/worktrees" / second).resolve()),
    ]


async def test_a_project_in_a_subfolder_works_in_the_same_subfolder_of_its_worktree(
    tmp_path: Path,
) -> None:
    root = repository(tmp_path / "repo")
    (root / "app").mkdir()
    (root / "app" / "main.txt").write_text("app\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "app")
    async with Runtime(project(root / "app"), mcp=False) as runtime:
        handle = await runtime.sessions.spawn("coder")
        where = await runtime.sessions.request(handle, "where")
        await runtime.sessions.request(handle, "write main.txt changed")
        await runtime.sessions.close(handle)
        record = runtime.sessions.worktrees.load(handle)
    folder = (root / "app" / ".aegis/worktrees" / handle).resolve()
    assert where.text.split() == [str(folder / "app"), f"aegis/{handle}"]
    assert record is not None and record.subdir == "app" and record.cwd == folder / "app"
    assert git(root, "show", f"aegis/{handle}:app/main.txt") == "changed"
