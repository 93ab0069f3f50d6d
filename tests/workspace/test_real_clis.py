"""Worktrees with the real CLIs (pinned, against the fake model), on real repositories.

Four queue workers edit the same file at the same moment, each in its own worktree;
two of their branches are landed (the second conflicts); a daemon killed with
SIGKILL mid-task leaves, after its restart, no worktree without changes and no
branch with changes lost; and a claude conversation resumed goes on in the same
worktree folder (claude keys conversations by folder). gemini and opencode work in
their worktree too.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
from pathlib import Path

import anyio
import pytest

from aegis.config import Agent
from aegis.config.loader import Project
from aegis.queue import Queue
from aegis.runtime import Runtime
from aegis.testing.fakemodel import FakeModelServer, ModelRequest, Reply, Script, shell_call
from aegis.workspace import LandConflict, WorktreeState, land
from aegis_claude.config import ClaudeCode
from aegis_gemini.config import GeminiCLI
from aegis_opencode.config import OpenCode
from tests.daemon.conftest import aegis, daemon_pid, start_daemon, stop_daemon
from tests.e2e.test_exit_paths import processes_in
from tests.support.clis import GEMINI_MODEL, claude_env, gemini_env, opencode_env
from tests.support.waiting import wait_until
from tests.workspace.test_worktrees import branches, git, repository, worktrees

pytestmark = pytest.mark.anyio


def claude_agent(executable: Path) -> Agent:
    return Agent(
        provider=ClaudeCode(permission="full", executable=str(executable)), workspace="worktree"
    )


async def test_four_claude_workers_edit_one_file_at_once_each_on_its_own_branch(
    tmp_path: Path,
) -> None:
    root = repository(tmp_path / "repo")
    # Every worker's first request waits for the other three: they edit at the same time.
    together = threading.Barrier(4, timeout=90)

    def edit(request: ModelRequest) -> Reply:
        number = re.search(r"edit (\d)", request.user_text)
        assert number is not None
        together.wait()
        command = f"echo 'worker {number[1]}' > shared.txt"
        return Reply(tool_calls=[shell_call(request, command)])

    with FakeModelServer(Script().on(r"edit \d", edit)) as model:
        cli = claude_env(tmp_path / "claude", model.url)
        project = Project(
            root / ".aegis.py",
            {"coder": claude_agent(cli.executable)},
            "coder",
            queues={"edits": Queue("edits", "coder", max_parallel=4)},
        )
        async with Runtime(project, env=cli.env, mcp=False) as runtime:
            ids = [await runtime.queues.enqueue("edits", f"edit {n}") for n in range(1, 5)]
            with anyio.fail_after(240):
                tasks = [await runtime.queues.wait(task_id) for task_id in ids]
            assert [t.status.value for t in tasks] == ["done"] * 4, [t.error for t in tasks]
            store = runtime.sessions.worktrees
            records = [store.load(t.worker_handle or "") for t in tasks]
            # Four branches, each with its worker's edit; the base is untouched.
            assert (root / "shared.txt").read_text() == "base\n"
            assert git(root, "status", "--porcelain") == ""
            assert git(root, "log", "--format=%s", "main") == "base"
            assert sorted(branches(root)) == sorted(
                ["main", *(f"aegis/{t.worker_handle}" for t in tasks)]
            )
            for number, (task, record) in enumerate(zip(tasks, records, strict=True), 1):
                assert record is not None and record.state is WorktreeState.kept
                assert task.workspace is not None and task.workspace["stat"] == (
                    "1 file changed, +1 -1"
                )
                shown = git(root, "show", f"{record.branch}:shared.txt")
                assert shown == f"worker {number}"
            # Landing two that conflict: the first lands, the second is reported, both
            # branches as they were.
            first, second = records[0], records[1]
            assert first is not None and second is not None
            second_tip = git(root, "rev-parse", second.branch)
            landed = await land(store, first)
            with pytest.raises(LandConflict) as conflict:
                await land(store, second)
            assert conflict.value.files == ["shared.txt"]
    assert (root / "shared.txt").read_text() == "worker 1\n"
    assert git(root, "rev-parse", "main") == landed.commit
    assert git(root, "rev-parse", second.branch) == second_tip
    assert second.branch in branches(root) and len(worktrees(root)) == 4  # main + 3 kept
    assert processes_in(root) == []


DAEMON_CONFIG = """
from aegis.config import Agent, ClaudeCode
from aegis.queue import Queue
agents = {{
    "coder": Agent(
        provider=ClaudeCode(permission="full", executable={executable!r}, env={env!r}),
        workspace="worktree",
    ),
}}
default_agent = "coder"
queues = [Queue("edits", agent_profile="coder", max_parallel=2)]
"""


async def test_a_daemon_killed_mid_task_leaves_no_orphan_worktree_and_loses_no_branch(
    tmp_path: Path,
) -> None:
    root = repository(tmp_path / "repo")

    def slow_edit(request: ModelRequest) -> Reply:
        return Reply(tool_calls=[shell_call(request, "echo half-done > shared.txt; sleep 30")])

    started = tmp_path / "started"  # outside the worktree: the reader changes nothing there

    def slow_read(request: ModelRequest) -> Reply:
        command = f"cat shared.txt; touch {started}; sleep 30"
        return Reply(tool_calls=[shell_call(request, command)])

    script = Script().on(r"^slow edit", slow_edit).on(r"^slow read", slow_read)
    with FakeModelServer(script) as model:
        cli = claude_env(tmp_path / "claude", model.url)
        (root / ".aegis.py").write_text(
            DAEMON_CONFIG.format(executable=str(cli.executable), env=cli.env)
        )
        start_daemon(root)
        try:
            # Two tasks caught in the middle: one has edited a file, one has changed nothing.
            for payload in ("slow edit", "slow read"):
                enqueued = aegis(root, "queue", "enqueue", "edits", payload, "--json")
                assert enqueued.returncode == 0, enqueued.stderr
            records = root / ".aegis" / "worktrees"

            def caught() -> bool:
                # A folder can be there before git has checked its files out.
                edits = [f / "shared.txt" for f in records.glob("*") if f.is_dir()]
                edited = any(e.is_file() and e.read_text() == "half-done\n" for e in edits)
                return edited and started.exists()

            wait_until(caught, 120, "the workers to be at work")
            pid = daemon_pid(root)
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: daemon_pid(root) is None, 30, "the daemon to die")
            start_daemon(root)
            assert aegis(root, "daemon", "status").returncode == 0
        finally:
            stop_daemon(root)
            for pid in processes_in(root):  # the CLI's shell command, orphaned by SIGKILL
                os.kill(pid, signal.SIGKILL)
    states = {p.stem: json.loads(p.read_text())["state"] for p in records.glob("*.json")}
    kept = [name for name, state in states.items() if state == "kept"]
    assert len(kept) == 1 and sorted(states.values()) == ["kept", "removed"], states
    # The half-done edit is committed on the branch, the only worktree left beside main.
    assert git(root, "show", f"aegis/{kept[0]}:shared.txt") == "half-done"
    assert branches(root) == sorted(["main", f"aegis/{kept[0]}"])
    assert worktrees(root) == [str(root.resolve()), str((records / kept[0]).resolve())]
    assert (root / "shared.txt").read_text() == "base\n"


async def test_a_claude_conversation_resumed_goes_on_in_its_worktree(tmp_path: Path) -> None:
    root = repository(tmp_path / "repo")
    script = (
        Script()
        .on(r"remember (\w+)", Reply(text="noted"))
        .on(r"what was it", lambda request: Reply(text="earlier: " + " | ".join(request.prompts)))
    )
    with FakeModelServer(script) as model:
        cli = claude_env(tmp_path / "claude", model.url)
        project = Project(root / ".aegis.py", {"coder": claude_agent(cli.executable)}, "coder")
        async with Runtime(project, env=cli.env, mcp=False) as runtime:
            first = await runtime.sessions.spawn("coder")
            await runtime.sessions.request(first, "remember kiwi")
            conversation = runtime.sessions.get(first).harness_session_id
            folder = runtime.sessions.get(first).cwd
            await runtime.sessions.close(first)
            # No changes: the worktree was removed at close, and comes back for the resume.
            assert folder is not None and not folder.exists()
            again = await runtime.sessions.spawn("coder", resume=conversation)
            assert runtime.sessions.get(again).cwd == folder and folder.is_dir()
            turn = await runtime.sessions.request(again, "what was it")
            assert turn.ok, turn.error
            assert runtime.sessions.get(again).harness_session_id == conversation
    # claude found the earlier conversation in that folder and sent it along.
    assert turn.text is not None and "remember kiwi" in turn.text, turn.text


@pytest.mark.parametrize("cli", ["gemini", "opencode"])
async def test_gemini_and_opencode_sessions_work_in_their_worktree(
    tmp_path: Path, cli: str
) -> None:
    root = repository(tmp_path / "repo")

    def edit(request: ModelRequest) -> Reply:
        return Reply(tool_calls=[shell_call(request, "pwd > where.txt")])

    with FakeModelServer(Script().on(r"^note where", edit)) as model:
        if cli == "gemini":
            env = gemini_env(tmp_path / "gemini", model.url)
            provider: GeminiCLI | OpenCode = GeminiCLI(
                model=GEMINI_MODEL, permission="full", executable=str(env.executable)
            )
        else:
            # opencode reads its provider from the project's opencode.json: committed, it
            # is in every worktree.
            env = opencode_env(tmp_path / "opencode", model.url, project=root)
            git(root, "add", "opencode.json")
            git(root, "commit", "-qm", "opencode")
            provider = OpenCode(permission="full", executable=str(env.executable))
        agents = {"coder": Agent(provider=provider, workspace="worktree")}
        project = Project(root / ".aegis.py", agents, "coder")
        async with Runtime(project, env=env.env, mcp=False) as runtime:
            handle = await runtime.sessions.spawn("coder")
            end = await runtime.sessions.request(handle, "note where you are")
            assert end.ok, end.error
            await runtime.sessions.close(handle)
            record = runtime.sessions.worktrees.load(handle)
    assert record is not None and record.state is WorktreeState.kept
    assert git(root, "show", f"aegis/{handle}:where.txt") == str(record.path.resolve())
    assert not (root / "where.txt").exists()
