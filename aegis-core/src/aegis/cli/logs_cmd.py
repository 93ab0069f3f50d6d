"""``aegis logs HANDLE``: a session's transcript, printed readably."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from aegis.cli._client import run_client
from aegis.cli._context import load_project
from aegis.cli._errors import CliError

if TYPE_CHECKING:
    from aegis.cli._render import ConsoleRenderer


@click.command()
@click.argument("handle")
@click.option("-f", "--follow", is_flag=True, help="Keep printing the session's events live.")
@click.pass_context
def logs(ctx: click.Context, handle: str, follow: bool) -> None:
    """Print the transcript of session HANDLE (messages, replies, tool calls).

    With --follow, go on printing its events as they come until the session ends
    (Ctrl+C stops watching; the session goes on). Reads the transcript under
    .aegis/sessions/ when no daemon runs.
    """
    project = load_project(ctx)

    async def main() -> int:
        from aegis.cli._render import ConsoleRenderer
        from aegis.daemon.client import DaemonClient, DaemonNotRunning, Numbered

        renderer = ConsoleRenderer(show_user=True)
        client = DaemonClient(project.state_dir, name="cli:logs")
        try:
            async for item in client.events(handle, after=0, follow=follow):
                if isinstance(item, Numbered):
                    renderer.show(item.event)
            return 0
        except DaemonNotRunning:
            pass
        return _from_file(project.state_dir, handle, renderer)

    ctx.exit(run_client(main))


def _from_file(state_dir: Path, handle: str, renderer: ConsoleRenderer) -> int:
    from aegis.events import from_dict
    from aegis.session.transcript import read_records

    path = state_dir / "sessions" / handle / "transcript.jsonl"
    if not path.exists():
        raise CliError(f"no session {handle!r} in this project", hint="`aegis ps -a` lists them")
    for record in read_records(path):
        try:
            renderer.show(from_dict(record))
        except (TypeError, ValueError):
            continue  # a record of an event type this aegis does not know
    return 0
