"""``aegis land``: merge an agent's branch into its base, then remove its worktree."""

from __future__ import annotations

import click

from aegis.cli._context import load_project, print_json
from aegis.cli._runtime import run_command
from aegis.cli._worktrees import find_worktree, project_worktrees


@click.command()
@click.argument("target", metavar="HANDLE|TASK")
@click.option(
    "--merge",
    "strategy",
    flag_value="merge",
    default=True,
    help="A merge commit with the agent's commits (the default).",
)
@click.option("--squash", "strategy", flag_value="squash", help="One commit with all changes.")
@click.option(
    "--rebase", "strategy", flag_value="rebase", help="The agent's commits replayed on the base."
)
@click.option("-m", "--message", help="The message of the new commit.")
@click.option("--keep-branch", is_flag=True, help="Keep the branch aegis/HANDLE after landing.")
@click.option(
    "--pr",
    is_flag=True,
    help="Push the branch and open a pull request with gh instead of landing locally.",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
@click.pass_context
def land(
    ctx: click.Context,
    target: str,
    strategy: str,
    message: str | None,
    keep_branch: bool,
    pr: bool,
    as_json: bool,
) -> None:
    """Land an agent's branch into its base branch and remove its worktree.

    HANDLE is a session that worked in a worktree; TASK a queue task whose worker
    did. What it left uncommitted is committed onto its branch first. The merge is
    worked out before anything moves: on a conflict (with the base, or with
    uncommitted changes of the base's checkout) nothing changes, the error names
    the files, and the branch and worktree stay for you to resolve. The session
    must have ended.

    \b
    Examples:
      aegis land lucid-knuth             # a merge commit into the base
      aegis land lucid-knuth --squash -m "Add the parser"
      aegis land 01hx3k... --rebase      # a queue task's worker
      aegis land lucid-knuth --pr        # a pull request on GitHub (needs gh)
    """
    project = load_project(ctx)

    async def main() -> int:
        from aegis.workspace import land as land_branch
        from aegis.workspace import open_pull_request

        record = await find_worktree(project, target)
        worktrees = project_worktrees(project)
        if pr:
            url = await open_pull_request(worktrees, record, title=message)
            if as_json:
                print_json({"branch": record.branch, "base": record.base, "pull_request": url})
            else:
                click.echo(f"opened a pull request of {record.branch} into {record.base}: {url}")
            return 0
        result = await land_branch(
            worktrees, record, strategy, message=message, keep_branch=keep_branch
        )
        if as_json:
            print_json(
                {
                    "branch": record.branch,
                    "base": record.base,
                    "strategy": result.strategy.value,
                    "commit": result.commit,
                    "stat": result.stat.as_dict(),
                }
            )
            return 0
        click.echo(
            f"landed {record.branch} into {record.base} ({result.strategy.value}): "
            f"{result.stat.summary()}; {record.base} is now {result.commit[:12]}"
        )
        return 0

    ctx.exit(run_command(main))
