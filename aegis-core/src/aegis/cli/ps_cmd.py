"""``aegis ps``: the sessions of the project's daemon."""

from __future__ import annotations

import time

import click

from aegis.cli._client import run_client
from aegis.cli._context import load_project, print_json, print_table


def _age(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d"


@click.command()
@click.option("-a", "--all", "show_all", is_flag=True, help="Ended sessions too.")
@click.option("--json", "as_json", is_flag=True, help="Print the sessions as JSON.")
@click.pass_context
def ps(ctx: click.Context, show_all: bool, as_json: bool) -> None:
    """List the live sessions of the project's daemon.

    Shows each session's handle, agent profile, state, who started it (`user`, a
    client, `queue:NAME`, `workflow:RUN`, `agent:HANDLE` for an agent's helper), its
    age and its cost so far. `aegis attach HANDLE` joins
    one; `aegis logs HANDLE` prints its transcript. Does not start the daemon.
    """
    project = load_project(ctx)

    async def main() -> int:
        from aegis.daemon.client import DaemonClient, DaemonNotRunning

        try:
            sessions = await DaemonClient(project.state_dir, name="cli:ps").sessions()
        except DaemonNotRunning:
            sessions = []
            if not as_json:
                click.echo("no aegis daemon runs for this project: no sessions", err=True)
                return 0
        shown = [s for s in sessions if show_all or s.live]
        if as_json:
            print_json(
                [
                    {
                        "handle": s.handle,
                        "profile": s.profile,
                        "provider": s.provider,
                        "state": s.state,
                        "started_by": s.started_by,
                        "started_at": s.started_at,
                        "model": s.model,
                        "cost_usd": s.cost_usd,
                        "queued": s.queued,
                        "error": s.error,
                        "branch": s.branch,
                    }
                    for s in shown
                ]
            )
            return 0
        if not shown:
            click.echo("no live sessions" if not show_all else "no sessions", err=True)
            return 0
        now = time.time()
        rows = [
            [
                s.handle,
                s.profile,
                s.state,
                s.started_by,
                _age(now - s.started_at) if s.started_at else "-",
                f"${s.cost_usd:.4f}" if s.cost_usd is not None else "-",
            ]
            for s in shown
        ]
        print_table(["HANDLE", "PROFILE", "STATE", "STARTED BY", "AGE", "COST"], rows)
        return 0

    ctx.exit(run_client(main))
