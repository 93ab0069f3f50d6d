"""`aegis ask`, `chat`, `attach` and `serve` as clients of the project's daemon (real
commands, one daemon for the module, on the offline provider)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Process

from aegis.daemon.client import DaemonClient
from aegis.daemon.launch import connect
from tests.daemon.conftest import aegis, daemon_pid, make_project, stop_daemon
from tests.fixtures.fakes import AEGIS, clean_env
from tests.support.waiting import wait_until


def sessions(project: Path) -> dict[str, dict[str, Any]]:
    """Every session of the daemon, by handle (`aegis ps --all --json`)."""
    listed = aegis(project, "ps", "--all", "--json")
    assert listed.returncode == 0, listed.stderr
    return {row["handle"]: row for row in json.loads(listed.stdout)}


def test_ask_runs_its_turn_in_the_daemon_and_closes_its_session(project: Path) -> None:
    pid = daemon_pid(project)
    done = aegis(project, "ask", "offline", "hello", "--json")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    # The session's whole life, from its first event to its last.
    assert events[0]["type"] == "session_started"
    assert events[-1] == {"handle": events[0]["handle"], "type": "state", "state": "closed"}
    [end] = [e for e in events if e["type"] == "turn_end"]
    assert end["text"] == "hi there"
    row = sessions(project)[events[0]["handle"]]
    assert (row["started_by"], row["state"]) == ("client:cli:ask", "closed")
    assert daemon_pid(project) == pid


def test_ctrl_c_interrupts_an_ask_in_the_daemon_and_closes_its_session(project: Path) -> None:
    before = set(sessions(project))
    ask = subprocess.Popen(
        [str(AEGIS), "ask", "offline", "slow"],
        cwd=project,
        env=clean_env(home=project),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: any(
                row["state"] == "busy" for h, row in sessions(project).items() if h not in before
            ),
            60,
            "the turn to run in the daemon",
        )
        ask.send_signal(signal.SIGINT)
        assert ask.wait(timeout=60) == 130
    finally:
        if ask.poll() is None:
            ask.kill()
        ask.communicate()
    [handle] = set(sessions(project)) - before
    assert sessions(project)[handle]["state"] == "closed"


def test_chat_keep_leaves_its_session_to_attach_and_chat_closes_its_own(project: Path) -> None:
    kept = subprocess.run(
        [str(AEGIS), "chat", "--keep"],
        cwd=project,
        env=clean_env(home=project),
        input="hello\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert kept.returncode == 0, kept.stderr
    assert kept.stdout == "hi there\n"
    handle = kept.stderr.split("detached from ")[1].split(";")[0]
    assert f"it goes on (aegis attach {handle})" in kept.stderr
    row = sessions(project)[handle]
    assert (row["state"], row["started_by"]) == ("ready", "client:cli:chat")

    attached = subprocess.run(
        [str(AEGIS), "attach", handle],
        cwd=project,
        env=clean_env(home=project),
        input="count 3\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert attached.returncode == 0, attached.stderr
    assert attached.stdout == "counted 3, one two three four five\n"

    closed = subprocess.run(
        [str(AEGIS), "chat"],
        cwd=project,
        env=clean_env(home=project),
        input="hello\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert closed.returncode == 0, closed.stderr
    assert "to come back to this conversation: aegis chat offline --resume scripted-" in (
        closed.stderr
    )
    own = closed.stderr.split(":")[0]
    assert sessions(project)[own]["state"] == "closed"
    assert sessions(project)[handle]["state"] == "ready"

    async def close() -> None:
        await DaemonClient(project / ".aegis").close(handle)

    anyio.run(close)
    # The daemon, which runs .aegis.py as it is, checks the profile: in the CLI's words.
    nobody = aegis(project, "chat", "nobody")
    assert (nobody.returncode, nobody.stdout) == (1, "")
    assert nobody.stderr.splitlines() == [
        "error: no agent profile 'nobody'",
        "  hint: profiles: offline",
    ]


async def read_until(process: Process, text: str, seen: bytearray) -> None:
    """Read ``process``'s stdout into ``seen`` until it holds ``text``."""
    assert process.stdout is not None
    with anyio.fail_after(60):
        while text.encode() not in seen:
            seen += await process.stdout.receive()


def test_two_attached_commands_both_see_every_event_and_both_send(project: Path) -> None:
    async def two_attached() -> None:
        daemon = DaemonClient(project / ".aegis")
        handle = (await daemon.spawn("offline")).handle
        env = clean_env(home=project)
        async with (
            await anyio.open_process([AEGIS, "attach", handle], cwd=project, env=env) as first,
            await anyio.open_process([AEGIS, "attach", handle], cwd=project, env=env) as second,
        ):
            out: dict[int, bytearray] = {first.pid: bytearray(), second.pid: bytearray()}
            with anyio.fail_after(60):
                while len((await daemon.status())["clients"]) < 2:
                    await anyio.sleep(0.05)
            assert first.stdin is not None and second.stdin is not None
            await first.stdin.send(b"hello\n")
            for process in (first, second):
                await read_until(process, "hi there\n", out[process.pid])
            await second.stdin.send(b"count 2\n")
            for process in (first, second):
                await read_until(process, "counted 2, one two three four five\n", out[process.pid])
            await first.stdin.aclose()
            await second.stdin.aclose()
            with anyio.fail_after(60):
                assert await first.wait() == 0 and await second.wait() == 0
        assert out[first.pid] == out[second.pid]
        await daemon.close(handle)

    anyio.run(two_attached)


def test_serve_is_the_daemon_in_the_foreground_and_says_what_it_serves(tmp_path: Path) -> None:
    folder = make_project(tmp_path / "served")
    serve = subprocess.Popen(
        [str(AEGIS), "serve"],
        cwd=folder,
        env=clean_env(home=folder),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert serve.stderr is not None
        said = []
        while not said or said[-1] != "  Ctrl+C or SIGTERM stops\n":
            line = serve.stderr.readline()
            assert line, "".join(said)
            said.append(line)
        assert f"aegis serve: {folder}\n" in said and "  queues: work (offline x2)\n" in said
        assert daemon_pid(folder) == serve.pid  # clients find it: it is the daemon
        asked = aegis(folder, "ask", "offline", "hello")
        assert asked.returncode == 0 and asked.stdout == "hi there\n", asked.stderr
        line = serve.stderr.readline()
        while " (offline) " not in line:
            line = serve.stderr.readline()
        assert line.endswith(" (offline) closed\n")
        taken = aegis(folder, "serve")
        assert taken.returncode == 3
        assert taken.stderr.splitlines() == [
            f"error: a daemon already runs for this project (pid {serve.pid})",
            "  hint: `aegis daemon stop` stops it (its sessions end); then `aegis serve`",
        ]
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=60) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()


def _children(pid: int) -> list[tuple[int, str]]:
    """``(pid, state)`` of the processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append((int(entry.name), fields[0]))
    return found


def test_a_daemon_a_client_starts_is_not_its_child(tmp_path: Path) -> None:
    folder = make_project(tmp_path / "started")

    async def start() -> int:
        client = await connect(folder / ".aegis.py", folder / ".aegis", name="test")
        return int((await client.status())["pid"])

    try:
        pid = anyio.run(start)
        # The launcher between them is gone (reaped), and the daemon is not ours: when it
        # exits, it cannot become a zombie of a client that lives on (the TUI).
        assert _children(os.getpid()) == []
        assert _parent(pid) != os.getpid()
    finally:
        stop_daemon(folder)
    assert _children(os.getpid()) == []


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
