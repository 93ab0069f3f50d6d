"""``aegis ask``: one turn with an agent, streamed to the terminal."""

from __future__ import annotations

import sys
from contextlib import aclosing
from typing import TYPE_CHECKING

import anyio
import click

from aegis.cli._client import daemon_wanted, run_client, warm_request
from aegis.cli._context import (
    load_project,
    locate_project,
    read_text_argument,
    require_profile,
    text_at_hand,
)
from aegis.cli._render import ConsoleRenderer, event_json
from aegis.cli._runtime import EXIT_SIGINT, run_command
from aegis.events import Event, PermissionAnswer, PermissionRequest, StateChanged, TurnEnd

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from aegis.cli._approvals import Approver
    from aegis.cli._spinner import Spinner
    from aegis.config.loader import Project
    from aegis.daemon.client import DaemonClient

CLIENT = "cli:ask"
"""Who the command is, to the daemon."""

CLOSE_WAIT_S = 30.0
"""How long ``ask`` waits, on its way out, for the daemon to end its session."""


@click.command()
@click.argument("profile")
@click.argument("message", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print canonical events as JSON lines.")
@click.pass_context
def ask(ctx: click.Context, profile: str, message: str | None, as_json: bool) -> None:
    """Send MESSAGE to a new session of agent PROFILE and stream the reply.

    The reply text goes to stdout; tool calls, results and errors go to stderr.
    MESSAGE `-` (or no MESSAGE) reads it from standard input. On a terminal, a
    spinner on stderr says what the agent is doing and for how long, and a tool
    call the profile's approval rules send to a person is asked about (allow once,
    for the session, or deny with a reason). The exit
    status is 0 when the turn succeeded, 1 when it failed or was interrupted, 130
    after Ctrl+C.

    The session runs in the project's daemon (started if needed) and is closed
    after the turn; `aegis --no-daemon ask` runs it in this process instead.

    \b
    Examples:
      aegis ask offline "hello"
      aegis ask claude "Summarise README.md" > summary.txt
      git diff | aegis ask reviewer -
    """
    text: str | None = None
    if daemon_wanted(ctx) and text_at_hand(message):
        # The message is at hand (an argument, or `-` for the piped input): a daemon
        # running .aegis.py as it is now starts the session at once, and checks the
        # profile; the file is not executed here. Without MESSAGE, the profile is
        # checked first: `aegis ask hello` is a forgotten message more often than not.
        located = locate_project(ctx)
        text = given = read_text_argument(message, "the message")
        started = warm_request(
            located, name=CLIENT, request=lambda client, digest: _spawn(client, profile, digest)
        )
        if started is not None:
            from aegis.daemon.client import DaemonClient

            handle, interrupted = started
            client = DaemonClient(located.state_dir, name=CLIENT)
            view = AskView(profile, as_json=as_json)
            ctx.exit(run_client(lambda: _follow(client, handle, given, view, interrupted)))
    project = load_project(ctx)
    require_profile(project, profile)  # before waiting on a terminal for a message
    text = text if text is not None else read_text_argument(message, "the message")
    view = AskView(profile, as_json=as_json)
    if daemon_wanted(ctx):
        ctx.exit(run_client(lambda: _through_daemon(project, profile, text, view)))
    ctx.exit(run_command(lambda: _in_process(project, profile, text, view)))


class AskView:
    """What ``aegis ask`` prints of its session's events, wherever the session runs:
    JSON lines, or the reply (stdout), the rest (stderr) and, on a terminal, a spinner."""

    def __init__(self, profile: str, *, as_json: bool) -> None:
        from aegis.cli._spinner import Spinner, spinner_wanted

        self.as_json = as_json
        self.renderer = ConsoleRenderer()
        self.spinner: Spinner | None = None
        self.end: TurnEnd | None = None
        """The end of the turn (the first one of the session: ask sends one message)."""
        self.approver: Approver | None = None
        """Asks about the session's permission requests, once set."""
        if not as_json and spinner_wanted():
            # The answer may share the terminal: draw only where no streamed text waits
            # for the rest of its line.
            answer_elsewhere = not sys.stdout.isatty()
            self.spinner = Spinner(
                f"starting {profile}",
                can_draw=lambda: answer_elsewhere or self.renderer.at_line_start,
            )
            self.renderer.spinner = self.spinner

    def approve(self, event: Event, tg: TaskGroup) -> None:
        """Ask the person at the terminal about a permission request (in a task of its
        own: the events go on meanwhile); an answer from elsewhere ends the question."""
        if self.approver is None:
            return
        if isinstance(event, PermissionRequest) and not self.approver.prompting:
            self.approver.say_how(event)
        elif isinstance(event, PermissionRequest):
            self.stop()  # the prompt takes the terminal's last line
            tg.start_soon(self.approver.handle, event)
        elif isinstance(event, PermissionAnswer):
            self.approver.settle(event)

    def show(self, handle: str, event: Event) -> None:
        if self.as_json:
            click.echo(event_json(handle, event))
        else:
            self.renderer.show(event)
        if isinstance(event, TurnEnd) and self.end is None:
            self.end = event

    @property
    def status(self) -> int:
        """0 when the turn succeeded, else 1 (it failed, or never ran)."""
        return 0 if self.end is not None and self.end.ok else 1

    async def spin(self) -> None:
        """Draw the spinner (if any) until cancelled."""
        if self.spinner is not None:
            await self.spinner.run()

    def stop(self) -> None:
        if self.spinner is not None:
            self.spinner.stop()


def _spawn(client: DaemonClient, profile: str, digest: str) -> str:
    """Start the session in a warm daemon running ``.aegis.py`` as it is now; its handle."""
    started_by = f"client:{client.name}"
    return client.spawn_blocking(profile, started_by=started_by, config_digest=digest).handle


async def _through_daemon(project: Project, profile: str, text: str, view: AskView) -> int:
    """The turn in a new session of the project's daemon (started if none runs)."""
    from aegis.cli._client import project_daemon

    client = await project_daemon(project, name=CLIENT)
    handle = (await client.spawn(profile, wait=False, started_by=f"client:{client.name}")).handle
    return await _follow(client, handle, text, view)


async def _follow(
    client: DaemonClient, handle: str, text: str, view: AskView, interrupted: bool = False
) -> int:
    """Send ``text`` to session ``handle`` of the daemon, just started, show its events
    and close it after its turn; ``interrupted``: Ctrl+C was pressed as it started (it
    is closed at once)."""
    from aegis.cli._approvals import Approver
    from aegis.daemon.client import DaemonError, Numbered

    view.approver = Approver(client.answer_approval)
    closed = False
    try:
        if interrupted:
            return EXIT_SIGINT  # the session is closed below
        async with anyio.create_task_group() as tg:
            tg.start_soon(view.spin)
            try:
                await client.send(handle, text)  # delivered once the session is ready
            except DaemonError as exc:
                if exc.code != "session_ended":
                    raise  # else it failed to start: its events say why
            # From its first event: what `--json` prints is the session's whole life.
            async with aclosing(client.events(handle, after=0)) as items:
                async for item in items:
                    if not isinstance(item, Numbered):
                        break  # the stream's end: the session has ended
                    view.show(handle, item.event)
                    view.approve(item.event, tg)
                    if isinstance(item.event, TurnEnd) and not closed:
                        view.stop()
                        closed = True
                        await client.close(handle)  # its last events follow
                    elif isinstance(item.event, StateChanged) and item.event.state == "failed":
                        closed = True  # it could not start: its Error event said why
                        break
            view.stop()
            tg.cancel_scope.cancel()
    finally:
        if not closed:
            # Ctrl+C, a signal, a broken stream: the turn is interrupted and the
            # session closed in the daemon, not left running for nobody.
            with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_WAIT_S):
                await client.interrupt(handle)
                await client.close(handle)
    return view.status


async def _in_process(project: Project, profile: str, text: str, view: AskView) -> int:
    """The turn in a session of this process (``aegis --no-daemon ask``)."""
    from aegis.cli._approvals import Approver, local_answer
    from aegis.errors import DriverError
    from aegis.session import SessionManager

    async with SessionManager.for_project(project) as sessions, anyio.create_task_group() as tg:
        view.approver = Approver(local_answer(sessions.approvals), through_daemon=False)
        with sessions.subscribe() as stream:

            async def show() -> None:
                async for handle, event in stream:
                    view.show(handle, event)
                    view.approve(event, tg)

            tg.start_soon(show)
            tg.start_soon(view.spin)
            try:
                handle = await sessions.spawn(profile)
            except DriverError:
                pass  # its Error event says why
            else:
                await sessions.request(handle, text, sender="user")
                await sessions.close(handle)
            view.stop()
        # Leaving `subscribe` ends the stream: show() prints what is left, then stops.
    return view.status
