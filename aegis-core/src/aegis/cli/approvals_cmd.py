"""``aegis approvals``: the permission requests waiting for a person, and answering one."""

from __future__ import annotations

import time

import click

from aegis.cli._client import run_client
from aegis.cli._context import load_project, print_json, print_table
from aegis.cli._errors import CliError

ANSWERS = {"allow": "allow_once", "session": "allow_session", "deny": "deny"}


@click.command()
@click.argument("approval_id", required=False)
@click.argument("answer", required=False, type=click.Choice(sorted(ANSWERS)))
@click.argument("reason", required=False)
@click.option("--session", "handle", metavar="HANDLE", help="Only the requests of this session.")
@click.option("--json", "as_json", is_flag=True, help="Print the requests as JSON.")
@click.pass_context
def approvals(
    ctx: click.Context,
    approval_id: str | None,
    answer: str | None,
    reason: str | None,
    handle: str | None,
    as_json: bool,
) -> None:
    """List the permission requests waiting for a person, or answer one.

    Without arguments, lists the requests of the daemon's sessions that the
    profiles' approval rules sent to a person: the approval's id, the session, the
    tool and what it would do, and how long until it is refused. With APPROVAL_ID
    and ANSWER, answers it: `allow` (once), `session` (this tool, for the rest of the
    session) or `deny`, with REASON the agent is told. The first answer wins: a
    request another client answered first says so. Does not start the daemon.

    \b
    Examples:
      aegis approvals
      aegis approvals 5f2c0e1a9b3d allow
      aegis approvals 5f2c0e1a9b3d deny "not on main; use a branch"
    """
    project = load_project(ctx)
    if approval_id is not None and answer is None:
        raise CliError(
            "say the answer after the approval's id", hint="allow, session, or deny [REASON]"
        )
    if reason is not None and answer != "deny":
        raise CliError("only a refusal has a reason", hint=f"aegis approvals {approval_id} deny")

    async def main() -> int:
        from aegis.daemon.client import DaemonClient, DaemonNotRunning

        client = DaemonClient(project.state_dir, name="cli:approvals")
        try:
            if approval_id is not None and answer is not None:
                taken, holding = await client.answer_approval(
                    approval_id, ANSWERS[answer], reason or ""
                )
                if not taken:
                    said = f": {holding.reason}" if holding.reason else ""
                    raise CliError(
                        f"approval {approval_id} was answered already: "
                        f"{holding.decision} by {holding.by}{said} (the first answer wins)"
                    )
                said = f" (the agent is told: {holding.reason})" if holding.reason else ""
                click.echo(f"{approval_id} answered: {holding.decision}{said}")
                return 0
            waiting = await client.approvals(handle)
        except DaemonNotRunning:
            if approval_id is not None:
                raise CliError(
                    "no aegis daemon runs for this project, so no request of its sessions waits",
                    hint="a session of `aegis --no-daemon chat` or `ask` asks at its own terminal",
                ) from None
            waiting = []
        if as_json:
            print_json(waiting)
            return 0
        if not waiting:
            click.echo("no permission request waits for a person", err=True)
            return 0
        now = time.time()
        rows = [
            [
                item["id"],
                item["session"],
                f"{item['request']['name']} [{item['request']['kind']}]",
                item["request"]["title"] or str(item["request"]["input"])[:60],
                f"{max(int(item['expires_at'] - now), 0)}s",
            ]
            for item in waiting
        ]
        print_table(["ID", "SESSION", "TOOL", "WHAT", "REFUSED IN"], rows)
        return 0

    ctx.exit(run_client(main))
