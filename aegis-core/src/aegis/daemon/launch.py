"""Starting the project's daemon in the background, finding a running one, stopping it.

A client that needs the daemon calls :func:`connect`: if a daemon holds the project's
lock and the socket answers, that is the daemon; otherwise it starts ``python -m aegis
daemon run`` detached from the terminal (a new session, stdin from ``/dev/null``,
output appended to ``.aegis/daemon.log``), through the launcher of
:mod:`aegis.daemon.detach` so that the daemon is not the client's child, and waits,
bounded, until the socket answers. Two clients starting at once start two processes,
but the lock lets one run; the other exits with :data:`EXIT_ALREADY_RUNNING` and both
clients find the one that runs.

A socket nobody holds the lock for is no daemon's, whatever answers on it (a
listener that never answers included): a new daemon is started, and takes its place.
A daemon that holds the lock but does not answer within :data:`PROBE_TIMEOUT` is
reported, not waited for.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import anyio

from aegis.daemon.client import DaemonClient, DaemonError, DaemonNotRunning
from aegis.daemon.lock import holder
from aegis.daemon.protocol import lock_path, log_path, socket_path
from aegis.private_files import open_private, private_dir

EXIT_ALREADY_RUNNING = 3
"""``aegis daemon run``'s exit status when another daemon holds the project's lock."""

START_TIMEOUT_ENV = "AEGIS_DAEMON_START_TIMEOUT"
_POLL_S = 0.02  # between looks for the socket of a daemon that starts
DEFAULT_START_TIMEOUT = 60.0

PROBE_TIMEOUT = 10.0
"""Seconds a running daemon has to answer a client's first request (its status)."""
POLL_TIMEOUT = 2.0
"""Seconds each look at a starting daemon's socket waits for an answer."""
RELEASE_TIMEOUT = 10.0
"""Seconds the launcher has to exit once let go (it exits at once)."""


def start_timeout() -> float:
    """Seconds a client waits for a daemon it started to answer."""
    try:
        return float(os.environ.get(START_TIMEOUT_ENV) or DEFAULT_START_TIMEOUT)
    except ValueError:
        return DEFAULT_START_TIMEOUT


def spawn_daemon(
    config_path: Path, state_dir: Path, *, idle_timeout: float | None = None
) -> subprocess.Popen[bytes]:
    """Start ``aegis daemon run`` for the project of ``config_path``, detached.

    Returns the launcher (:mod:`aegis.daemon.detach`): while its stdin is open, it
    exits with the daemon's status if the daemon exits; :func:`release` lets it go.
    """
    private_dir(state_dir)
    log = open_private(log_path(state_dir))
    argv = [sys.executable, "-m", "aegis", "--config", str(config_path), "daemon", "run"]
    if idle_timeout is not None:
        argv += ["--idle-timeout", str(idle_timeout)]
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "aegis.daemon.detach", *argv],
            cwd=config_path.parent,
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=log,
            start_new_session=True,  # nor does a signal of the terminal reach the launcher
            close_fds=True,
        )
    finally:
        os.close(log)


def release(launcher: subprocess.Popen[bytes]) -> None:
    """Let the launcher go (it exits at once) and reap it. Blocking: call it in a thread."""
    if launcher.stdin is not None:
        with contextlib.suppress(OSError):
            launcher.stdin.close()
    try:
        launcher.wait(RELEASE_TIMEOUT)
    except subprocess.TimeoutExpired:
        launcher.kill()  # the launcher only: the daemon is in a session of its own
        launcher.wait()


def log_tail(state_dir: Path, lines: int = 5) -> str:
    """The last ``lines`` lines of the daemon's log."""
    try:
        text = log_path(state_dir).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class Starting:
    """A daemon this client started, and has not yet seen answer."""

    launcher: subprocess.Popen[bytes]
    """Its launcher (see :func:`spawn_daemon`), to :func:`release` once it answers."""
    log_from: int
    """The size of its log before it started: what it writes is after."""


def start_daemon(
    config_path: Path, state_dir: Path, *, idle_timeout: float | None = None
) -> Starting:
    """Start the project's daemon (:func:`spawn_daemon`) without waiting for it. Blocking
    (it starts a process)."""
    log_from = _log_size(state_dir)
    return Starting(spawn_daemon(config_path, state_dir, idle_timeout=idle_timeout), log_from)


def start_early(config_path: Path, state_dir: Path) -> Starting | None:
    """Start the daemon now if none holds the project's lock, for a command that will
    need it and has work of its own to do first (``aegis workflow run`` executes
    ``.aegis.py`` to check it): the two starts overlap. Pass the result to
    :func:`connect`, and :func:`release` its launcher if the command ends before."""
    if holder(lock_path(state_dir)) is not None:
        return None
    return start_daemon(config_path, state_dir)


async def connect(
    config_path: Path,
    state_dir: Path,
    *,
    name: str = "client",
    start: bool = True,
    idle_timeout: float | None = None,
    starting: Starting | None = None,
) -> DaemonClient:
    """A client of the project's daemon, starting the daemon first if none answers.

    ``starting``: the daemon was started already (:func:`start_early`); wait for it.
    Raises :class:`DaemonNotRunning` (``start=False``), :class:`DaemonError` when a
    started daemon does not answer in time or exits (its log says why), or
    :class:`~aegis.daemon.client.DaemonVersionMismatch`.
    """
    client = DaemonClient(state_dir, name=name)
    pid = holder(lock_path(state_dir)) if starting is None else None
    if pid is not None:
        try:
            await client.status(timeout=PROBE_TIMEOUT)
            return client
        except DaemonNotRunning:
            pass  # it binds its socket just after taking the lock
        except DaemonError as exc:
            if exc.code != "timeout":
                raise
            if not starting_up(state_dir):
                raise not_answering(state_dir, pid) from None
        # Another client's daemon, starting: wait for it as for one's own.
        log_from = await anyio.to_thread.run_sync(_log_size, state_dir)
        await wait_until_answering(client, None, state_dir, log_from=log_from)
        return client
    if starting is None:
        if not start:
            raise DaemonNotRunning(socket_path(state_dir), stale=socket_path(state_dir).exists())
        starting = await anyio.to_thread.run_sync(
            lambda: start_daemon(config_path, state_dir, idle_timeout=idle_timeout)
        )
    try:
        await wait_until_answering(client, starting.launcher, state_dir, log_from=starting.log_from)
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(release, starting.launcher)
    client.started = await client.status()
    return client


def not_answering(state_dir: Path, pid: int | None) -> DaemonError:
    """The error for daemon ``pid``, which holds the lock and has long started, but does
    not answer: what to do, and where its log is."""
    return DaemonError(
        f"the aegis daemon (pid {pid or '?'}) does not answer",
        hint=f"`aegis daemon restart` restarts it; its log: {log_path(state_dir)}",
        code="timeout",
    )


def starting_up(state_dir: Path) -> bool:
    """Whether the daemon holding the lock took it less than the start timeout ago (it
    writes its pid into the lock file as it takes it): one still starting."""
    try:
        return time.time() - lock_path(state_dir).stat().st_mtime < start_timeout()
    except OSError:
        return False


def _log_size(state_dir: Path) -> int:
    try:
        return log_path(state_dir).stat().st_size
    except OSError:
        return 0


def _own_error(state_dir: Path, log_from: int) -> tuple[str, str | None] | None:
    """The ``error: ...`` (and ``hint: ...``) a daemon that failed to start wrote to its
    log after offset ``log_from``: its own words on what is wrong."""
    try:
        with log_path(state_dir).open("rb") as file:
            file.seek(log_from)
            lines = file.read().decode(errors="replace").splitlines()
    except OSError:
        return None
    errors = [n for n, line in enumerate(lines) if line.startswith("error: ")]
    if not errors:
        return None
    at = errors[-1]
    after = lines[at + 1].strip() if at + 1 < len(lines) else ""
    hint = after.removeprefix("hint: ") if after.startswith("hint: ") else None
    return lines[at].removeprefix("error: "), hint


async def wait_until_answering(
    client: DaemonClient,
    process: subprocess.Popen[bytes] | None,
    state_dir: Path,
    *,
    log_from: int = 0,
) -> None:
    """Wait until the daemon answers ``client``; fail clearly if it exits or takes too long
    (with the daemon's own error, if it wrote one to its log after offset ``log_from``).

    ``process`` is the daemon's launcher, which exits with the daemon's status
    (``None``: another client started the daemon; it failed if it let the lock go).
    """
    timeout = start_timeout()
    deadline = time.monotonic() + timeout
    while True:
        try:
            await client.status(timeout=POLL_TIMEOUT)
            return
        except DaemonNotRunning:
            pass
        except DaemonError as exc:
            if exc.code not in ("timeout", "connection_lost"):
                raise
            # Not the daemon yet (a dead listener's socket, until the daemon takes its
            # place), or a daemon that closed the connection as it exited: see below.
        if process is not None:
            status = process.poll()
            exited = status is not None and status != EXIT_ALREADY_RUNNING
            how = f" (status {status})"
        else:  # its status went to the client that started it; its lock is gone
            exited, how = holder(lock_path(state_dir)) is None, ""
        if exited:
            own = _own_error(state_dir, log_from)
            if own is not None:  # a project the daemon cannot run: a damaged database…
                where = f"its log: {log_path(state_dir)}"
                raise DaemonError(
                    f"the aegis daemon exited as it started: {own[0]}",
                    hint=f"{own[1]} ({where})" if own[1] else where,
                    code="start_failed",
                )
            tail = log_tail(state_dir)
            raise DaemonError(
                f"the aegis daemon exited as it started{how}"
                + (f": {tail.splitlines()[-1]}" if tail else ""),
                hint=f"its log: {log_path(state_dir)}",
                code="start_failed",
            )
        if time.monotonic() >= deadline:
            raise DaemonError(
                f"the aegis daemon did not answer within {timeout:g} s",
                hint=f"its log: {log_path(state_dir)} ({START_TIMEOUT_ENV} sets the wait)",
                code="start_timeout",
            )
        # Short and steady: the socket appears as soon as the daemon holds its lock, and
        # from then on a connection waits in its listen queue (no more polling), so a
        # longer pause would only add to every cold start. A refused connect costs little.
        await anyio.sleep(_POLL_S)


async def wait_ready(client: DaemonClient) -> bool:
    """Wait until the daemon has finished starting (its MCP plane serves: agents spawned
    from then on do not wait for it); whether it did (not if the start timeout passed
    first, or if it exited meanwhile).

    ``aegis daemon start`` waits for this, so that a daemon it started is warm: the
    commands that follow do not share the machine with its start. A command that
    starts the daemon on its way does not: its agent starts meanwhile.
    """
    deadline = time.monotonic() + start_timeout()
    while True:
        try:
            if (await client.status()).get("ready", True):
                return True
        except DaemonNotRunning:
            return False  # it has exited since (an idle timeout shorter than its start)
        if time.monotonic() >= deadline:
            return False
        await anyio.sleep(_READY_POLL_S)


_READY_POLL_S = 0.05


def _running(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel (a zombie then counts as running)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


async def stop(state_dir: Path, *, timeout: float = 60.0) -> int | None:
    """Stop the project's daemon and wait until it is gone; return its pid (``None``:
    none ran).

    It is asked through the protocol; a daemon that cannot be talked to (another
    protocol version, or not answering) gets SIGTERM, the pid taken from its lock.
    """
    import signal

    pid = holder(lock_path(state_dir))
    if pid is None:
        return None
    client = DaemonClient(state_dir, name="cli:stop", check_version=False, timeout=10)
    try:
        pid = await client.stop()
    except DaemonError:
        if pid:
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while holder(lock_path(state_dir)) is not None or (pid and _running(pid)):
        if time.monotonic() >= deadline:
            raise DaemonError(
                f"the aegis daemon (pid {pid}) did not stop within {timeout:g} s",
                hint=f"its log: {log_path(state_dir)}; `kill -9 {pid}` ends it",
            )
        await anyio.sleep(0.05)
    return pid
