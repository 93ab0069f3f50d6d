"""The daemon's life: started in the background, one per project, stopped by signals or
when idle, and what clients do when it is gone or of another version."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from aegis.daemon.client import (
    DaemonClient,
    DaemonError,
    DaemonNotRunning,
    DaemonVersionMismatch,
    StreamEnd,
)
from aegis.daemon.lock import DaemonLock
from aegis.daemon.protocol import lock_path, socket_path
from aegis.testing.processes import alive, wait_gone
from tests.daemon.conftest import aegis, daemon_pid, make_project, start_daemon, stop_daemon
from tests.e2e.test_exit_paths import processes_in
from tests.fixtures.fakes import AEGIS, clean_env
from tests.support.waiting import wait_until


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    folder = make_project(tmp_path / "project")
    yield folder
    stop_daemon(folder)


def test_a_background_daemon_is_detached_private_and_answers_status(project: Path) -> None:
    pid = start_daemon(project)
    state = project / ".aegis"
    assert os.getsid(pid) == pid  # its own session: no terminal signals reach it
    assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"
    assert os.readlink(f"/proc/{pid}/fd/1") == str(state / "daemon.log")
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    sock = socket_path(state)
    assert stat.S_ISSOCK(sock.stat().st_mode) and stat.S_IMODE(sock.stat().st_mode) == 0o600
    shown = aegis(project, "daemon", "status")
    assert shown.returncode == 0, shown.stderr
    assert f"pid {pid}" in shown.stdout and "0 live" in shown.stdout
    # `daemon start` returned once the daemon had finished starting: its MCP plane serves.
    assert "starting" not in shown.stdout
    assert json.loads(aegis(project, "daemon", "status", "--json").stdout)["ready"] is True
    again = aegis(project, "daemon", "start")
    assert f"already runs (pid {pid})" in again.stdout


def test_two_starts_at_once_make_one_daemon(project: Path) -> None:
    starts = [
        subprocess.Popen(
            [str(AEGIS), "daemon", "start"],
            cwd=project,
            env=clean_env(home=project),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [start.communicate(timeout=120) for start in starts]
    assert [start.returncode for start in starts] == [0, 0, 0], outputs
    pid = daemon_pid(project)
    assert pid and all(f"(pid {pid})" in out for out, _ in outputs)
    # A daemon run in the foreground finds the lock taken and says so.
    foreground = aegis(project, "daemon", "run")
    assert foreground.returncode == 3
    assert f"a daemon already runs for this project (pid {pid})" in foreground.stderr
    assert daemon_pid(project) == pid


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_stops_the_daemon_and_its_agents(project: Path, signum: int) -> None:
    pid = start_daemon(project)

    async def spawn() -> None:
        await DaemonClient(project / ".aegis").spawn("offline")

    anyio.run(spawn)
    agents = processes_in(project, exclude=pid)
    assert agents, "the session's agent process should run"
    os.kill(pid, signum)
    wait_until(lambda: not alive(pid), 60, "the daemon to exit")
    assert wait_gone(agents) == []
    assert daemon_pid(project) is None
    assert not socket_path(project / ".aegis").exists()
    log = (project / ".aegis" / "daemon.log").read_text()
    assert "stopped" in log and "Traceback" not in log


def test_a_daemon_whose_socket_is_removed_stops_with_its_agents(project: Path) -> None:
    # What deleting (or unmounting) a project under a running daemon looks like to it:
    # no client can reach it again, so it must not run on unseen with its agents.
    pid = start_daemon(project)

    async def spawn() -> None:
        await DaemonClient(project / ".aegis").spawn("offline")

    anyio.run(spawn)
    agents = processes_in(project, exclude=pid)
    assert agents, "the session's agent process should run"
    socket_path(project / ".aegis").unlink()
    wait_until(lambda: not alive(pid), 60, "the daemon to exit")
    assert wait_gone(agents) == []
    log = (project / ".aegis" / "daemon.log").read_text()
    assert "was removed" in log and "Traceback" not in log


def test_stopping_ends_the_event_streams_of_attached_clients(project: Path) -> None:
    pid = start_daemon(project)

    async def watch_then_stop() -> None:
        daemon = DaemonClient(project / ".aegis")
        handle = (await daemon.spawn("offline")).handle
        ends: list[StreamEnd] = []

        async def watch() -> None:
            async for item in daemon.events(handle):
                if isinstance(item, StreamEnd):
                    ends.append(item)

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(watch)
                while not (await daemon.status())["clients"]:
                    await anyio.sleep(0.05)
                stopped = await anyio.to_thread.run_sync(aegis, project, "daemon", "stop")
                assert stopped.returncode == 0 and f"stopped (pid {pid})" in stopped.stdout
        assert ends == [StreamEnd("daemon stopping")]

    anyio.run(watch_then_stop)
    assert not alive(pid)


def test_an_idle_daemon_exits_and_a_busy_one_does_not(project: Path) -> None:
    pid = start_daemon(project, "--idle-timeout", "1")

    async def spawn_then_close() -> None:
        daemon = DaemonClient(project / ".aegis")
        handle = (await daemon.spawn("offline")).handle
        await anyio.sleep(4)  # four idle timeouts: a live session keeps it
        assert (await daemon.status())["pid"] == pid
        await daemon.close(handle)

    anyio.run(spawn_then_close)
    wait_until(lambda: not alive(pid), 60, "the idle daemon to exit")
    assert "stopping: idle for 1 s" in (project / ".aegis" / "daemon.log").read_text()


def test_the_idle_timeout_comes_from_the_environment(project: Path) -> None:
    env = {**clean_env(home=project), "AEGIS_DAEMON_IDLE_TIMEOUT": "0.5"}
    done = subprocess.run(
        [str(AEGIS), "daemon", "start"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.split("pid ")[1].rstrip(")\n"))
    wait_until(lambda: not alive(pid), 60, "the idle daemon to exit")


def test_a_stale_socket_is_no_daemon_and_no_hang(project: Path) -> None:
    state = project / ".aegis"
    state.mkdir(mode=0o700)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(socket_path(state)))
    stale.close()  # the file stays; nothing listens

    async def look() -> None:
        with anyio.fail_after(10):
            with pytest.raises(DaemonNotRunning) as error:
                await DaemonClient(state).status()
        assert error.value.stale and "aegis daemon start" in (error.value.hint or "")

    anyio.run(look)
    listed = aegis(project, "ps")
    assert listed.returncode == 0 and "no aegis daemon runs" in listed.stderr
    pid = start_daemon(project)  # the new daemon takes the socket's place
    assert alive(pid)


def test_a_socket_that_never_answers_times_out(project: Path) -> None:
    state = project / ".aegis"
    state.mkdir(mode=0o700)
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mute.bind(str(socket_path(state)))
    mute.listen()  # connections are accepted by the kernel, never answered
    try:

        async def look() -> None:
            with anyio.fail_after(30):
                with pytest.raises(DaemonError) as error:
                    await DaemonClient(state, timeout=1).status()
            assert error.value.code == "timeout"

        anyio.run(look)
    finally:
        mute.close()


def test_a_client_command_gets_past_a_dead_socket(project: Path) -> None:
    state = project / ".aegis"
    state.mkdir(mode=0o700)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(socket_path(state)))
    stale.close()  # the file stays; nothing listens
    asked = aegis(project, "ask", "offline", "hello")
    assert (asked.returncode, asked.stdout) == (0, "hi there\n"), asked.stderr
    stop_daemon(project)

    # A listener that accepts and never answers, holding no lock: no daemon's socket.
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mute.bind(str(socket_path(state)))
    mute.listen()
    try:
        asked = aegis(project, "ask", "offline", "hello")
        assert (asked.returncode, asked.stdout) == (0, "hi there\n"), asked.stderr
    finally:
        mute.close()


def test_a_daemon_that_never_answers_is_reported_not_waited_for(project: Path) -> None:
    state = project / ".aegis"
    state.mkdir(mode=0o700)
    hung = DaemonLock(lock_path(state))  # held here: a daemon that runs, but is stuck
    hung.acquire()
    an_hour_ago = time.time() - 3600  # long started: not one still starting
    os.utime(lock_path(state), (an_hour_ago, an_hour_ago))
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mute.bind(str(socket_path(state)))
    mute.listen()
    try:
        asked = aegis(project, "ask", "offline", "hello", timeout=60)
    finally:
        mute.close()
        hung.release()
    assert asked.returncode == 1
    assert asked.stderr.splitlines() == [
        f"error: the aegis daemon (pid {os.getpid()}) does not answer",
        f"  hint: `aegis daemon restart` restarts it; its log: {state / 'daemon.log'}",
    ]


def test_a_second_ctrl_c_stops_waiting_for_a_daemon_that_never_answers(project: Path) -> None:
    state = project / ".aegis"
    state.mkdir(mode=0o700)
    hung = DaemonLock(lock_path(state))
    hung.acquire()
    an_hour_ago = time.time() - 3600
    os.utime(lock_path(state), (an_hour_ago, an_hour_ago))
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mute.bind(str(socket_path(state)))
    mute.listen()
    mute.settimeout(30)
    asking = subprocess.Popen(
        [AEGIS, "ask", "offline", "hello"],
        cwd=project,
        env=clean_env(home=project),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        conn, _ = mute.accept()  # its first request is sent: it waits for the answer
        assert asking.stderr is not None
        asking.send_signal(signal.SIGINT)
        first = asking.stderr.readline()
        asking.send_signal(signal.SIGINT)
        _, rest = asking.communicate(timeout=30)
        conn.close()
    finally:
        asking.kill()
        mute.close()
        hung.release()
    assert asking.returncode == 130, first + rest
    assert first == "waiting for the aegis daemon's answer; Ctrl+C again stops waiting\n"
    # Given up at once: not the error the 10 s timeout would have given.
    assert rest.splitlines() == [
        f"error: stopped waiting for the aegis daemon (pid {os.getpid()}): what this command "
        "asked of it may have started all the same",
        "  hint: `aegis ps` and `aegis workflow runs` show what runs; `aegis daemon restart` "
        "restarts a daemon that does not answer",
    ]


class OtherVersionDaemon:
    """A server on the project's socket answering as a daemon of protocol 2 would."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        body = b'{"protocol": 2, "aegis_version": "9.0.0", "pid": 1}'
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nAegis-Protocol: 2\r\nAegis-Version: 9.0.0\r\n"
                    b"Content-Type: application/json\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\nConnection: close\r\n\r\n"
                    + body
                )

    def close(self) -> None:
        self.sock.close()


def test_a_daemon_of_another_version_is_detected_and_restart_is_suggested(
    project: Path,
) -> None:
    state = project / ".aegis"
    state.mkdir(mode=0o700)
    other = OtherVersionDaemon(socket_path(state))
    try:

        async def look() -> None:
            with pytest.raises(DaemonVersionMismatch) as error:
                await DaemonClient(state).sessions()
            assert "aegis 9.0.0 (protocol 2)" in error.value.message
            assert "aegis daemon restart" in (error.value.hint or "")

        anyio.run(look)
        listed = aegis(project, "ps")
        assert listed.returncode == 1
        assert "error: the running daemon is aegis 9.0.0 (protocol 2)" in listed.stderr
        assert "hint: `aegis daemon restart`" in listed.stderr
    finally:
        other.close()


def test_a_project_deeper_than_a_socket_path_can_be_still_works(tmp_path: Path) -> None:
    project = make_project(tmp_path / ("deep" * 15) / ("deeper" * 10) / "project")
    assert len(str(socket_path(project / ".aegis"))) > 108  # beyond sun_path
    try:
        pid = start_daemon(project)

        async def look() -> None:
            assert (await DaemonClient(project / ".aegis").status())["pid"] == pid

        anyio.run(look)
    finally:
        stop_daemon(project)
