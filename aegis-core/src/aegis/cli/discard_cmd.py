"""``aegis discard``: throw away an agent's worktree and branch."""

from __future__ import annotations

import sys

import click

from aegis.cli._context import load_project
from aegis.cli._errors import CliError
from aegis.cli._runtime import run_command
from aegis.cli._worktrees import find_worktree, project_worktrees


@click.command()
@click.argument("target", metavar="HANDLE|TASK")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def discard(ctx: click.Context, target: str, yes: bool) -> None:
    """Delete an agent's worktree and its branch, with all of its changes.

    HANDLE is a session that worked in a worktree; TASK a queue task whose worker
    did. Asks first (the changes are gone for good); --yes does not. The session
    must have ended.

    \b
    Examples:
      aegis discard lucid-knuth
      aegis discard 01hx3k... --yes
    """
    project = load_project(ctx)
    interactive = sys.stdin.isatty()

    async def main() -> int:
        import anyio

        from aegis.workspace import discard as discard_branch

        record = await find_worktree(project, target)
        if not yes:
            if not interactive:
                raise CliError(
                    f"discarding {record.branch} deletes its changes: confirm with --yes",
                    hint=f"`aegis diff {target}` shows what would be lost",
                )
            stat = record.stat.summary() if record.stat is not None else "its changes"
            question = f"Delete {record.branch} and its worktree ({stat})? The changes are lost"
            if not await anyio.to_thread.run_sync(
                lambda: click.confirm(question, default=False, err=True)
            ):
                click.echo("kept it", err=True)
                return 1
        gone = await discard_branch(project_worktrees(project), record)
        stat = gone.stat.summary() if gone.stat is not None else "no changes"
        click.echo(f"discarded {gone.branch} ({stat})")
        return 0

    ctx.exit(run_command(main))
