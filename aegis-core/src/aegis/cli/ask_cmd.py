"""``aegis ask``: one turn with an agent, streamed to the terminal."""

from __future__ import annotations

import sys

import anyio
import click

from aegis.cli._context import load_project, read_text_argument, require_profile
from aegis.cli._render import ConsoleRenderer, event_json
from aegis.cli._runtime import run_command


@click.command()
@click.argument("profile")
@click.argument("message", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print canonical events as JSON lines.")
@click.pass_context
def ask(ctx: click.Context, profile: str, message: str | None, as_json: bool) -> None:
    """Send MESSAGE to a new session of agent PROFILE and stream the reply.

    The reply text goes to stdout; tool calls, results and errors go to stderr.
    MESSAGE `-` (or no MESSAGE) reads it from standard input. On a terminal, a
    spinner on stderr says what the agent is doing and for how long. The exit
    status is 0 when the turn succeeded, 1 when it failed or was interrupted, 130
    after Ctrl+C.

    \b
    Examples:
      aegis ask offline "hello"
      aegis ask claude "Summarise README.md" > summary.txt
      git diff | aegis ask reviewer -
    """
    project = load_project(ctx)
    require_profile(project, profile)  # before waiting on stdin for a message
    text = read_text_argument(message, "the message")

    async def main() -> int:
        from aegis.cli._spinner import Spinner, spinner_wanted
        from aegis.errors import DriverError
        from aegis.session import SessionManager

        renderer = ConsoleRenderer()
        spinner: Spinner | None = None
        if not as_json and spinner_wanted():
            # The answer may share the terminal: draw only where no streamed text waits
            # for the rest of its line.
            answer_elsewhere = not sys.stdout.isatty()
            spinner = Spinner(
                f"starting {profile}",
                can_draw=lambda: answer_elsewhere or renderer.at_line_start,
            )
            renderer.spinner = spinner
        status = 1
        async with SessionManager.for_project(project) as sessions, anyio.create_task_group() as tg:
            with sessions.subscribe() as stream:

                async def show() -> None:
                    async for handle, event in stream:
                        if as_json:
                            click.echo(event_json(handle, event))
                        else:
                            renderer.show(event)

                tg.start_soon(show)
                if spinner is not None:
                    tg.start_soon(spinner.run)
                try:
                    handle = await sessions.spawn(profile)
                except DriverError:
                    pass  # its Error event says why
                else:
                    if spinner is not None:
                        spinner.start_turn()
                    end = await sessions.request(handle, text, sender="user")
                    await sessions.close(handle)
                    status = 0 if end.ok else 1
                if spinner is not None:
                    spinner.stop()
            # Leaving `subscribe` ends the stream: show() prints what is left, then stops.
        return status

    ctx.exit(run_command(main))
