"""``aegis chat``: a line-oriented conversation with one agent, without the TUI."""

from __future__ import annotations

from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import anyio
import click

from aegis.cli._client import daemon_wanted, run_client, warm_request
from aegis.cli._context import load_project, locate_project, require_profile
from aegis.cli._conversation import interrupt_through
from aegis.cli._errors import CliError
from aegis.cli._runtime import EXIT_SIGINT, run_command
from aegis.events import StateChanged

if TYPE_CHECKING:
    from aegis.config.loader import Project
    from aegis.daemon.client import DaemonClient, SessionSummary
    from aegis.project_files import ProjectFiles

CLIENT = "cli:chat"
"""Who the command is, to the daemon."""

CLOSE_WAIT_S = 30.0
"""How long leaving waits for the daemon to close the session (it stops its agent)."""


@click.command()
@click.argument("profile", required=False)
@click.option("--resume", metavar="SESSION_ID", help="Resume this harness session id.")
@click.option(
    "--keep",
    is_flag=True,
    help="On Ctrl+D, leave the session running in the daemon (`aegis attach` comes back).",
)
@click.pass_context
def chat(ctx: click.Context, profile: str | None, resume: str | None, keep: bool) -> None:
    """Talk with a session of agent PROFILE (default: the default agent), line by line.

    Each line you type is a message; the reply streams back. Ctrl+C interrupts the
    agent's current turn, Ctrl+D leaves: the session is closed and chat prints the
    command that comes back to the conversation (`aegis chat PROFILE --resume ID`);
    with --keep the session goes on in the daemon instead (`aegis attach HANDLE`
    joins it again). On a terminal, lines are edited with the usual keys and kept
    in a history per project (.aegis/chat_history; Up recalls them), and a tool
    call the profile's approval rules send to a person is asked about at once:
    allow it once, for the rest of the session, or deny it with a reason the agent
    is told.

    The session runs in the project's daemon (started if needed), like the TUI's:
    the agent can call aegis's MCP tools (hand off work, enqueue tasks, run
    workflows), and messages other agents or queues send to this session are shown
    with their sender. `aegis --no-daemon chat` runs it in this process instead.

    \b
    Examples:
      aegis chat
      aegis chat reviewer --keep
      aegis chat reviewer --resume 4f1c2a9e-...
    """
    if daemon_wanted(ctx):
        # A daemon running .aegis.py as it is now starts the session at once, and checks
        # the profile; the file is not executed here.
        located = locate_project(ctx)
        started = warm_request(
            located,
            name=CLIENT,
            request=lambda client, digest: client.spawn_blocking(
                profile, started_by=f"client:{CLIENT}", config_digest=digest, resume=resume
            ),
        )
        if started is not None:
            session, interrupted = started
            ctx.exit(_through_daemon(located, session.profile, resume, keep, session, interrupted))
    project = load_project(ctx)
    chosen = profile or project.default_agent
    require_profile(project, chosen)  # before the runtime starts for nothing
    if daemon_wanted(ctx):
        ctx.exit(_through_daemon(project, chosen, resume, keep))
    if keep:
        raise CliError(
            "--keep leaves the session in the daemon: not with --no-daemon",
            hint="without --no-daemon, chat runs its session in the daemon",
        )
    ctx.exit(_in_process(project, chosen, resume))


def _banner(handle: str, profile: str, provider: str, model: str | None) -> None:
    click.secho(
        f"{handle}: {profile} ({provider}{', ' + model if model else ''}); "
        "Ctrl+C interrupts, Ctrl+D leaves",
        dim=True,
        err=True,
    )


def _come_back(profile: str, resume_id: str | None) -> None:
    if resume_id:
        click.secho(
            f"to come back to this conversation: aegis chat {profile} --resume {resume_id}",
            dim=True,
            err=True,
        )


def _through_daemon(
    project: ProjectFiles,
    profile: str,
    resume: str | None,
    keep: bool,
    spawned: SessionSummary | None = None,
    interrupted: bool = False,
) -> int:
    """Chat with a session the daemon runs (spawned for this chat, or ``spawned`` by
    the command's first request; ``interrupted``: Ctrl+C was pressed meanwhile)."""
    state: dict[str, Any] = {}

    async def main() -> int:
        from aegis.cli._approvals import Approver
        from aegis.cli._client import project_daemon
        from aegis.cli._conversation import converse, daemon_events
        from aegis.cli._render import ConsoleRenderer
        from aegis.daemon.client import DaemonClient

        if spawned is None:
            client = await project_daemon(project, name=CLIENT)
            session = await client.spawn(
                profile, wait=False, resume=resume, started_by=f"client:{client.name}"
            )
        else:
            client, session = DaemonClient(project.state_dir, name=CLIENT), spawned
        handle = session.handle
        state.update(client=client, handle=handle)
        try:
            if interrupted:
                return EXIT_SIGINT  # the session is closed below
            session = await started(client, handle)
            if session.state == "failed":
                raise CliError(session.error or f"session {handle!r} failed to start")
            _banner(handle, profile, session.provider, session.model)
            ended = await converse(
                daemon_events(client, handle, 0),
                lambda line: client.send(handle, line),
                state_dir=project.state_dir,
                renderer=ConsoleRenderer(),
                approver=Approver(client.answer_approval),
            )
            if ended:
                click.secho(f"{handle}: {ended}", fg="red", err=True)
                return 1
        finally:
            # Whatever ends the chat (Ctrl+D, a signal, an error), its session ends
            # with it, unless --keep asked to leave it running (a closed terminal too).
            if not keep:
                with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_WAIT_S):
                    session = await client.close(handle)
        if keep:
            click.secho(
                f"detached from {handle}; it goes on (aegis attach {handle})", dim=True, err=True
            )
        else:
            _come_back(profile, session.harness_session_id)
        return 0

    interrupt = interrupt_through(
        lambda: state.get("client"), lambda: state.get("handle"), "leaves"
    )
    return run_client(main, on_sigint=interrupt)


async def started(client: DaemonClient, handle: str) -> SessionSummary:
    """Session ``handle`` once it has started (or failed to), watched on its event stream."""
    from aegis.daemon.client import Numbered

    async with aclosing(client.events(handle, 0)) as items:
        async for item in items:
            if (
                isinstance(item, Numbered)
                and isinstance(item.event, StateChanged)
                and item.event.state != "starting"
            ):
                break
    return await client.session(handle)


def _in_process(project: Project, profile: str, resume: str | None) -> int:
    """Chat with a session of a runtime of this process (``aegis --no-daemon chat``)."""
    state: dict[str, object] = {}

    async def interrupt() -> bool:
        sessions, handle = state.get("sessions"), state.get("handle")
        if sessions is None or not isinstance(handle, str):
            return False
        from aegis.session import SessionManager, SessionState

        assert isinstance(sessions, SessionManager)
        if sessions.get(handle).state is SessionState.busy:
            await sessions.interrupt(handle)
        else:
            click.secho("\n(Ctrl+D leaves)", dim=True, err=True)
        return True

    async def main() -> int:
        from aegis.cli._approvals import Approver, local_answer
        from aegis.cli._conversation import converse, local_events
        from aegis.cli._render import ConsoleRenderer
        from aegis.errors import DriverError
        from aegis.runtime import Runtime

        renderer = ConsoleRenderer()
        async with Runtime(project) as runtime:
            sessions = runtime.sessions
            # Subscribed to this session alone (not the queue workers this process may
            # run), before anything of it can stream: spawning without waiting returns
            # before the session's task has run.
            handle = await sessions.spawn(profile, resume=resume, wait=False)
            with sessions.subscribe(handle) as stream:
                try:
                    await sessions.wait_ready(handle)
                except DriverError as exc:
                    raise CliError(str(exc)) from None
                state.update(sessions=sessions, handle=handle)
                info = sessions.get(handle)
                _banner(handle, profile, info.provider, info.model)

                async def send(line: str) -> None:
                    sessions.send(handle, line, sender="user")

                ended = await converse(
                    local_events(stream),
                    send,
                    state_dir=project.state_dir,
                    renderer=renderer,
                    approver=Approver(local_answer(runtime.approvals), through_daemon=False),
                )
            if ended:
                click.secho(f"{handle}: {ended}", fg="red", err=True)
                return 1
            resume_id = sessions.get(handle).harness_session_id
            await sessions.close(handle)
            _come_back(profile, resume_id)
        return 0

    return run_command(main, on_sigint=interrupt)
