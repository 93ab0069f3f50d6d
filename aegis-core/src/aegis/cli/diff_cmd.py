"""``aegis diff``: what an agent changed in its worktree, against its base."""

from __future__ import annotations

import sys
import time

import click

from aegis.cli._context import load_project, print_json, print_table
from aegis.cli._runtime import run_command
from aegis.cli._worktrees import find_worktree, project_worktrees


@click.command()
@click.argument("target", metavar="HANDLE|TASK", required=False)
@click.option("--stat", "stat_only", is_flag=True, help="Only the files changed and their +/-.")
@click.option(
    "--color/--no-color",
    default=None,
    help="Colour the diff (default: when printing to a terminal).",
)
@click.option("--json", "as_json", is_flag=True, help="The stat and the diff as JSON.")
@click.pass_context
def diff(
    ctx: click.Context, target: str | None, stat_only: bool, color: bool | None, as_json: bool
) -> None:
    """Show what an agent changed in its git worktree, against its base branch.

    HANDLE is a session whose profile has workspace='worktree'; TASK is a queue task
    whose worker had one. The diff holds the agent's commits on its branch
    (aegis/HANDLE) and what it left uncommitted, untracked files included. Without
    an argument, lists the worktrees waiting to be landed or discarded.

    \b
    Examples:
      aegis diff                  # the worktrees and their changes
      aegis diff lucid-knuth      # stat and full diff of one session
      aegis diff 01hx3k... --stat # a queue task's worker, files only
      aegis diff lucid-knuth --json

    Then `aegis land HANDLE` merges the branch into its base, or `aegis discard
    HANDLE` throws it away.
    """
    project = load_project(ctx)
    colour = sys.stdout.isatty() if color is None else color

    async def main() -> int:
        if target is None:
            return await _list(project, as_json)
        record = await find_worktree(project, target)
        worktrees = project_worktrees(project)
        if record.state.value in ("landed", "discarded", "removed"):
            stat = record.stat
            text = ""
        else:
            stat = await worktrees.diff_stat(record)
            text = "" if stat_only else await worktrees.diff(record, color=colour and not as_json)
        if as_json:
            print_json(
                {
                    **record.summary(),
                    "name": record.name,
                    "session": record.session,
                    "stat": stat.as_dict() if stat is not None else None,
                    "diff": None if stat_only else text,
                }
            )
            return 0
        head = f"{record.branch} ({record.state.value}) against {record.base}"
        click.secho(f"{head}: {stat.summary() if stat else 'no changes'}", bold=True, color=colour)
        if record.state.value in ("landed", "discarded", "removed"):
            return 0
        click.echo(f"folder: {record.cwd}")
        for file in stat.files if stat else ():
            added = "-" if file.added is None else f"+{file.added}"
            deleted = "-" if file.deleted is None else f"-{file.deleted}"
            line = f" {file.path}  {added} {deleted}"
            click.echo(line if not colour else click.style(line, fg="cyan"), color=colour)
        if text:
            click.echo()
            click.echo(text, nl=False, color=colour)
        return 0

    ctx.exit(run_command(main))


async def _list(project: object, as_json: bool) -> int:
    import anyio

    from aegis.config.loader import Project

    assert isinstance(project, Project)
    worktrees = project_worktrees(project)
    records = await anyio.to_thread.run_sync(lambda: list(worktrees.records()))
    waiting = [r for r in records if r.state.value in ("active", "kept", "creating")]
    if as_json:
        print_json([{**r.summary(), "name": r.name, "session": r.session} for r in waiting])
        return 0
    if not waiting:
        click.echo("no worktrees waiting to be landed or discarded", err=True)
        return 0
    now = time.time()
    rows = [
        [
            r.name,
            r.branch,
            r.base,
            "working" if r.state.value == "active" else r.state.value,
            r.stat.summary() if r.stat is not None else "-",
            f"{int((now - r.created_at) // 60)}m",
        ]
        for r in waiting
    ]
    print_table(["HANDLE", "BRANCH", "BASE", "STATE", "CHANGES", "AGE"], rows)
    return 0
