"""``aegis repair``: move damaged state aside so that aegis can start again."""

from __future__ import annotations

import click

from aegis.cli._context import load_project, print_json


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def repair(ctx: click.Context, as_json: bool) -> None:
    """Move damaged state files aside, so that aegis starts again; nothing is deleted.

    aegis refuses to use a damaged .aegis/queue.db, inbox.db, questions.db or usage.db
    (empty, truncated, not a database) rather than silently start afresh. This command
    renames each damaged one (with its -wal and -shm files) to
    NAME.damaged-<UTC time>, where `sqlite3` can still recover rows from it, and
    creates an empty one in its place. A file named .aegis, where the state
    folder belongs, is renamed the same way. Healthy files are left as they are.
    """
    from aegis.state_repair import repair_state

    project = load_project(ctx)
    repairs = repair_state(project.state_dir)
    if as_json:
        print_json(
            [
                {
                    "path": str(r.path),
                    "problem": r.problem,
                    "moved_to": r.moved_to and str(r.moved_to),
                }
                for r in repairs
            ]
        )
        return
    for r in repairs:
        if r.problem is None:
            click.echo(f"ok        {r.path}")
        else:
            click.echo(f"repaired  {r.path}: {r.problem}; the damaged file is now {r.moved_to}")
