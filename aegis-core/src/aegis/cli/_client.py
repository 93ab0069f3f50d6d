"""Commands that talk to the project's daemon: whether to, reaching it, its errors.

A command that runs agents (``ask``, ``chat``, ``workflow run``, ``queue enqueue``,
the TUI) is a client of the project's daemon, which it starts when none answers,
unless the user opted out for this command (``aegis --no-daemon ...`` or
``AEGIS_NO_DAEMON=1``): then it runs its own runtime, in its own process, as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import click

from aegis.cli._errors import CliError, show_error
from aegis.cli._runtime import EXIT_SIGINT, GaveUp, hold_stop_signals, run_command

if TYPE_CHECKING:
    from aegis.daemon.client import DaemonClient, DaemonError
    from aegis.daemon.launch import Starting
    from aegis.project_files import ProjectFiles


T = TypeVar("T")


def daemon_wanted(ctx: click.Context) -> bool:
    """Whether this command should go through the daemon (no ``--no-daemon``)."""
    root = ctx.find_root()
    return not (root.obj or {}).get("no_daemon", False)


def warm_request(
    project: ProjectFiles, *, name: str, request: Callable[[DaemonClient, str], T]
) -> tuple[T, bool] | None:
    """The answer of ``request(client, digest)``, sent blocking to the project's daemon if
    one runs ``.aegis.py`` as the file is now (``digest``: its
    :func:`~aegis.daemon.protocol.config_digest`, for the request's ``Aegis-Config-Digest``),
    and whether Ctrl+C was pressed meanwhile; ``None`` if no such daemon answered (no
    daemon, another version, another ``.aegis.py``): nothing was started, and the command
    goes the usual way (:func:`project_daemon`).

    A command's first request on a warm daemon, sent before the command imports what it
    needs for the rest and starts an event loop, so that the daemon starts the work (an
    agent) tens of milliseconds earlier, and without executing ``.aegis.py`` here: the
    daemon checks what the request names. Stop signals are held meanwhile (milliseconds),
    so that a Ctrl+C cannot leave work started that the command does not know of: the
    caller stops it when the second value is true. A Ctrl+C when nothing was started
    exits with status 130; a second Ctrl+C while the daemon has not answered (it is
    stuck) stops waiting, saying that the work may have started, and exits with 130;
    another error of the daemon is the command's error.
    """
    from aegis.daemon.client import (
        DaemonClient,
        DaemonError,
        DaemonNotRunning,
        DaemonVersionMismatch,
    )
    from aegis.daemon.launch import PROBE_TIMEOUT, not_answering, starting_up
    from aegis.daemon.lock import holder
    from aegis.daemon.protocol import config_digest, lock_path

    digest = config_digest(project.path)
    pid = holder(lock_path(project.state_dir))
    if digest is None or pid is None:
        return None  # no daemon (a socket without one is the usual way's to get past)
    client = DaemonClient(project.state_dir, name=name, timeout=PROBE_TIMEOUT)
    answer: list[T] = []
    try:
        with hold_stop_signals() as held:
            try:
                answer.append(request(client, digest))
            except (DaemonNotRunning, DaemonVersionMismatch):
                pass  # the usual way starts (or restarts) a daemon first
            except DaemonError as exc:
                stuck = exc.code == "timeout" and not starting_up(project.state_dir)
                if stuck:
                    exc = not_answering(project.state_dir, pid)
                if stuck or exc.code not in ("config_changed", "timeout"):
                    raise CliError(exc.message, hint=exc.hint) from None
                # Another .aegis.py, or a daemon still starting: the usual way (it waits).
    except GaveUp:
        show_error(
            f"stopped waiting for the aegis daemon (pid {pid}): what this command asked of "
            "it may have started all the same",
            hint="`aegis ps` and `aegis workflow runs` show what runs; `aegis daemon restart` "
            "restarts a daemon that does not answer",
        )
        raise SystemExit(EXIT_SIGINT) from None
    if not answer:
        if held.interrupted:
            raise SystemExit(EXIT_SIGINT)
        return None
    return answer[0], held.interrupted


async def project_daemon(
    project: ProjectFiles,
    *,
    name: str,
    start: bool = True,
    quiet: bool = False,
    starting: Starting | None = None,
) -> DaemonClient:
    """A client of ``project``'s daemon, which is started first when none answers.

    ``name`` says who the client is (``cli:ask``): the daemon shows it among the
    attached clients and as who started the sessions it spawns. A daemon of another
    aegis version is an error (its hint: ``aegis daemon restart``), unless on a
    terminal the user accepts to restart it; a daemon started after one that stopped
    unexpectedly is announced with what that one interrupted.

    A daemon that loaded ``.aegis.py`` before its last change is restarted first when
    it is idle (nothing would be lost), so that the command runs the file as it is;
    a busy one is left running, with a warning saying how to restart it. ``quiet``:
    a full-screen frontend, which owns the terminal: nothing is asked or said on
    stderr (another version is raised; ``client.started`` holds a crash report).
    ``starting``: the daemon this command started ahead (:func:`~aegis.daemon.launch.start_early`).
    """
    from aegis.daemon.client import DaemonVersionMismatch
    from aegis.daemon.launch import connect, stop
    from aegis.daemon.protocol import config_digest

    try:
        client = await connect(
            project.path, project.state_dir, name=name, start=start, starting=starting
        )
    except DaemonVersionMismatch as exc:
        if quiet or not (start and _on_terminal() and await _restart_wanted(project, exc)):
            raise
        pid = await stop(project.state_dir)
        click.secho(f"stopped the aegis daemon (pid {pid})", dim=True, err=True)
        client = await connect(project.path, project.state_dir, name=name)
    if not quiet:
        say_if_crashed(client)
    # A daemon this client has just started: its status is fresh.
    status = client.started or await client.status()
    loaded, now = status.get("config_digest"), config_digest(project.path)
    if loaded is None or now is None or loaded == now:
        return client
    if not status.get("idle"):
        if quiet:
            return client
        click.secho(
            f"warning: the aegis daemon (pid {status['pid']}) runs {project.path.name} as it "
            "was before your last change, and it is busy; `aegis daemon restart` loads the "
            "change (its sessions end)",
            fg="yellow",
            err=True,
        )
        return client
    await stop(project.state_dir)
    if not quiet:
        click.secho(
            f"{project.path.name} changed: restarted the aegis daemon to load it",
            dim=True,
            err=True,
        )
    return await connect(project.path, project.state_dir, name=name, start=start)


def _on_terminal() -> bool:
    import sys

    return sys.stdin.isatty() and sys.stderr.isatty()


async def _restart_wanted(project: ProjectFiles, mismatch: DaemonError) -> bool:
    """Ask whether to restart the daemon of another version with this aegis, saying what
    it runs (which restarting stops); the default is no when it runs anything."""
    import anyio

    from aegis.daemon.client import DaemonClient, DaemonError

    running = "it may run sessions and tasks"
    busy = True
    try:
        other = DaemonClient(project.state_dir, name="cli:restart?", check_version=False)
        status = await other.status(timeout=10)
        sessions = int(status["sessions"]["live"])
        tasks = int(status["tasks"]["running"]) + int(status["tasks"]["queued"])
        busy = bool(sessions or tasks)
        running = (
            f"it runs {sessions} session{'s' * (sessions != 1)} and "
            f"{tasks} task{'s' * (tasks != 1)}"
        )
    except (DaemonError, KeyError, TypeError, ValueError):
        pass  # a daemon of another protocol may not say; assume the worst
    click.secho(f"{mismatch.message}.", fg="yellow", err=True)
    question = (
        f"Restart it with this aegis? {running}" + (": they would be stopped" if busy else "") + "."
    )
    answer: bool = await anyio.to_thread.run_sync(
        lambda: click.confirm(question, default=not busy, err=True),
        abandon_on_cancel=True,
    )
    return answer


def say_if_crashed(client: DaemonClient) -> None:
    """When ``client`` started the daemon after one that stopped unexpectedly, say what
    that one interrupted (once: only the client that starts a daemon says it)."""
    from aegis.daemon.crashes import notice

    crash = (client.started or {}).get("previous_crash")
    if crash:
        click.secho(notice(crash), fg="yellow", err=True)


def run_client(
    main: Callable[[], Awaitable[int]],
    *,
    on_sigint: Callable[[], Awaitable[bool]] | None = None,
) -> int:
    """:func:`~aegis.cli._runtime.run_command`, with a daemon's error (not running, another
    version, no answer) shown as ``error: ...`` and ``hint: ...``."""
    from aegis.daemon.client import DaemonError

    try:
        return run_command(main, on_sigint=on_sigint)
    except DaemonError as exc:
        raise CliError(exc.message, hint=exc.hint) from None
