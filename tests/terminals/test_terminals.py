"""Shared terminals on real bash PTYs: run, keys, ledger, bounded output, wake-ups, cleanup.

The agents are the offline ``scripted`` provider's real agent processes, calling the
terminal tools through the MCP plane with their own tokens; wake-ups go through the
runtime's real inbox router to the live session.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
from pathlib import Path

import anyio
import pytest

from aegis.builtins.scripted import Scripted, ScriptedToolCall, ScriptRule
from aegis.config import Agent
from aegis.config.loader import Project
from aegis.process import tagged_pids
from aegis.runtime import Runtime
from aegis.terminals import TerminalRegistry, read_ledger
from aegis.terminals.terminal import MAX_LINES, OUTPUT_HEAD, OUTPUT_TAIL, REPLAY_BYTES
from tests.queue.fakes import POLL
from tests.support import transcripts
from tests.support.waiting import until

pytestmark = pytest.mark.anyio

BASH = shutil.which("bash") or "/bin/bash"
ENV = {"SHELL": BASH, "PS1": "$ "}


def tool(match: str, name: str, arguments: dict[str, object]) -> ScriptRule:
    return ScriptRule(
        match=match,
        tool_calls=(ScriptedToolCall(tool=f"mcp:aegis/{name}", input=arguments),),
        reply="tool: {output}",
    )


RUNNER = Scripted(
    rules=(
        tool("open it", "aegis_term_spawn", {"name": "shared"}),
        tool("follow it", "aegis_term_subscribe", {"name": "shared"}),
        tool(
            "run it",
            "aegis_term_run",
            {"name": "shared", "command": "echo made-$((6*7)); (exit 3)"},
        ),
        tool(
            "start long", "aegis_term_run", {"name": "shared", "command": "sleep 300", "timeout": 1}
        ),
        tool("stop it", "aegis_term_keys", {"name": "shared", "press": ["ctrl+c"]}),
        tool("history", "aegis_term_read", {"name": "shared", "since": 0}),
    )
)
WATCHER = Scripted(rules=(tool("follow it", "aegis_term_subscribe", {"name": "shared"}),))


async def transcript(runtime: Runtime, handle: str) -> str:
    return await transcripts.text(runtime.sessions, handle)


async def _holds(runtime: Runtime, handle: str, text: str) -> bool:
    return text in await transcript(runtime, handle)


async def test_agents_share_a_terminal_and_its_subscriber_is_woken(tmp_path: Path) -> None:
    (tmp_path / ".aegis.py").write_text("# built in the test\n")
    project = Project(
        path=tmp_path / ".aegis.py",
        agents={"runner": Agent(provider=RUNNER), "watcher": Agent(provider=WATCHER)},
        default_agent="runner",
    )
    runtime = Runtime(project, env=ENV)
    runtime.inbox.poll_interval = POLL
    async with runtime:
        sessions = runtime.sessions
        runner = await sessions.spawn("runner", "runner")
        watcher = await sessions.spawn("watcher", "watcher")
        assert (await sessions.request(runner, "open it")).ok
        assert (await sessions.request(watcher, "follow it")).ok
        assert (await sessions.request(runner, "follow it")).ok  # never told of its own
        ran = await sessions.request(runner, "run it")
        result = json.loads((ran.text or "").removeprefix("tool: "))
        assert (result["exit"], result["output"], result["status"]) == (3, "made-42", "done")

        # The watcher's inbox gets the wake-up: the scripted agent echoes it.
        await until(lambda: _holds(runtime, watcher, "exited with status 3"), timeout=20)
        wake = await transcript(runtime, watcher)
        assert "command #1 `echo made-$((6*7)); (exit 3)` (run by runner)" in wake
        assert "made-42" in wake

        # A long command, interrupted with keys.
        long = json.loads((await sessions.request(runner, "start long")).text[6:])  # type: ignore[index]
        assert long["status"] == "timeout"
        terminal = runtime.terminals.get("shared")
        assert terminal.busy
        assert (await sessions.request(runner, "stop it")).ok
        await until(lambda: not terminal.busy, timeout=10)
        history = json.loads((await sessions.request(runner, "history")).text[6:])  # type: ignore[index]
        commands = history["commands"]
        assert [(c["seq"], c["by"], c["exit"]) for c in commands] == [
            (1, "runner", 3),
            (2, "runner", 130),
        ]
        await until(lambda: _holds(runtime, watcher, "exited with status 130"), timeout=20)
        await sessions.drain(runner, timeout=10)
        assert "Terminal shared:" not in await transcript(runtime, runner)
        # A person types a command: it is recorded as theirs.
        await terminal.write(b"echo typed\r", "user")
        await until(lambda: terminal.last_seq == 3 and not terminal.busy, timeout=10)
        [typed] = await terminal.commands(2)
        assert (typed.command, typed.by, typed.exit, typed.output) == (
            "echo typed",
            "user",
            0,
            "typed",
        )
        await until(lambda: _holds(runtime, runner, "`echo typed` (run by user)"), timeout=20)
        shell_pid, tag = terminal.pid, terminal.tag
    # Stopping the runtime stopped the shell and all it started.
    assert tagged_pids(tag) == []
    with pytest.raises(ProcessLookupError):
        os.kill(shell_pid, 0)


async def test_output_stays_bounded_and_a_stop_is_recorded(tmp_path: Path) -> None:
    state = tmp_path / ".aegis"
    async with TerminalRegistry(state, tmp_path, env=ENV) as registry:
        terminal = await registry.spawn("big", by="user")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = await terminal.run(
            "head -c 10000000 /dev/zero | tr '\\0' 'x' | fold -w 100", by="user", timeout=120
        )
        grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        assert (result.status, result.exit) == ("done", 0)
        assert "bytes cut" in result.output
        assert len(result.output) < OUTPUT_HEAD + OUTPUT_TAIL + 100
        assert len(terminal.lines(10**6)) <= MAX_LINES + 1  # and the prompt's line
        async with terminal.view() as (replay, _):
            assert len(replay) <= REPLAY_BYTES
        assert grown_kib < 10 * 1024  # 10 MB went through; far less stayed
        # A command running when aegis stops is marked so in the ledger.
        assert (await terminal.run("sleep 300", by="user", timeout=0.5)).status == "timeout"
    records = read_ledger(state / "terminals" / "big.jsonl")
    assert [(r.seq, r.status) for r in records] == [(1, "done"), (2, "interrupted")]


async def test_a_shell_without_integration_still_runs_commands(tmp_path: Path) -> None:
    async with TerminalRegistry(tmp_path / ".aegis", tmp_path, env=ENV) as registry:
        terminal = await registry.spawn("plain", by="user", shell="/bin/sh")
        result = await terminal.run("echo plain-$((1+1))", by="user", timeout=30)
        assert (result.status, result.exit) == ("done", None)
        assert "plain-2" in result.output
        assert not terminal.integrated


async def test_a_killed_aegis_leaves_its_running_command_marked_interrupted(
    tmp_path: Path,
) -> None:
    state = tmp_path / ".aegis"
    ledger = state / "terminals" / "t.jsonl"
    ledger.parent.mkdir(parents=True)
    # What a killed aegis leaves: a command's start and no end.
    ledger.write_text(
        json.dumps(
            {
                "event": "start",
                "seq": 4,
                "command": "make",
                "by": "user",
                "started_at": 1.0,
                "status": "running",
            }
        )
        + "\n"
    )
    async with TerminalRegistry(state, tmp_path, env=ENV) as registry:
        terminal = await registry.spawn("t", by="user")
        assert (await terminal.run("true", by="user", timeout=30)).seq == 5
    assert [(r.seq, r.status) for r in read_ledger(ledger)] == [(4, "interrupted"), (5, "done")]


@pytest.mark.parametrize("shell", ["bash", "zsh"])
async def test_the_integration_of_each_shell_gives_exit_statuses(
    tmp_path: Path, shell: str
) -> None:
    path = shutil.which(shell)
    assert path, f"{shell} is needed (Debian: apt-get install {shell})"
    async with TerminalRegistry(
        tmp_path / ".aegis", tmp_path, env={"HOME": str(tmp_path)}
    ) as registry:
        terminal = await registry.spawn("t", by="user", shell=path)
        failed = await terminal.run("printf 'no newline'; (exit 7)", by="agent", timeout=30)
        assert (failed.status, failed.exit, failed.output) == ("done", 7, "no newline")
        await terminal.write(b"echo by-$((2*2))\r", "user")
        with anyio.fail_after(20):
            while terminal.last_seq < 2 or terminal.busy:
                await anyio.sleep(0.02)
        [typed] = await terminal.commands(1)
        assert (typed.command, typed.by, typed.exit, typed.output) == (
            "echo by-$((2*2))",
            "user",
            0,
            "by-4",
        )
        assert terminal.integrated


async def test_ctrl_c_interrupts_a_command_even_when_aegis_ignores_it(tmp_path: Path) -> None:
    # A daemon started in the background by a script (`aegis daemon run &`) ignores
    # SIGINT; its terminals' shells must not inherit that, or Ctrl+C would stop nothing.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        async with TerminalRegistry(tmp_path / ".aegis", tmp_path, env=ENV) as registry:
            terminal = await registry.spawn("keys", by="user")
            long = await terminal.run("sleep 300", by="user", timeout=0.5)
            assert long.status == "timeout"
            await terminal.write(b"\x03", "user")
            await until(lambda: not terminal.busy, timeout=10)
            [stopped] = await terminal.commands()
            assert stopped.exit == 130
    finally:
        signal.signal(signal.SIGINT, previous)
