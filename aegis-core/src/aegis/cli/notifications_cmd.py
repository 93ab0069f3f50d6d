"""``aegis notifications``: what aegis told a person, and a test of where it tells it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from aegis.cli._client import run_client
from aegis.cli._context import load_project, locate_project, print_table
from aegis.cli._errors import CliError

if TYPE_CHECKING:
    from aegis.config.loader import Project
    from aegis.notify import Notification


def _line(seq: int, notification: Notification) -> list[str]:
    at = notification.at[11:19]  # the time of day, UTC
    return [str(seq), at, notification.kind, notification.title]


@click.command("notifications")
@click.option("--follow", "-f", is_flag=True, help="Print each one as it is sent (Ctrl+C ends).")
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON (one object a line).")
@click.option(
    "--test",
    "test",
    is_flag=True,
    help="Send a test notification to the channels of .aegis.py and the plugins, and say "
    "how each delivery went.",
)
@click.pass_context
def notifications(ctx: click.Context, follow: bool, as_json: bool, test: bool) -> None:
    """List the notifications the project's daemon sent (the last 50), oldest first.

    aegis notifies when an agent asks for an approval or asks a question, a queued
    task fails, a workflow run ends and a session fails: to the attached TUI (its
    bell), to the channels `notifications = [...]` of .aegis.py declares (Desktop(),
    Webhook(...)) and to every plugin's notify hook. Only a running daemon keeps
    them (in memory).

    --test sends one notification of kind `test` from this command, to each channel
    and plugin in turn, and prints how each delivery went: the way to check a
    webhook's URL and secrets (read from this command's environment).

    \b
    Examples:
      aegis notifications
      aegis notifications --follow
      aegis notifications --test
    """
    if test:
        project = load_project(ctx)
        ctx.exit(run_client(lambda: _test(project)))
    files = locate_project(ctx)

    async def main() -> int:
        from aegis.daemon.client import DaemonClient, DaemonNotRunning, StreamEnd

        client = DaemonClient(files.state_dir, name="cli:notifications")
        try:
            if follow:
                async for item in client.follow_notifications():
                    if isinstance(item, StreamEnd):
                        click.secho(f"({item.reason})", dim=True, err=True)
                        break
                    _show([item], as_json, table=False)
                return 0
            _show(await client.notifications(), as_json, table=True)
        except DaemonNotRunning:
            raise CliError(
                "no aegis daemon runs for this project: it keeps the notifications it sends",
                hint="`aegis daemon start` starts one; `aegis notifications --test` checks "
                "the channels without it",
            ) from None
        return 0

    ctx.exit(run_client(main))


def _show(items: list[tuple[int, Notification]], as_json: bool, *, table: bool) -> None:
    if as_json:
        # One object a line (JSON Lines), so that `--follow --json` can be read line by line.
        for seq, notification in items:
            click.echo(json.dumps({"seq": seq, **notification.payload()}, default=str))
        return
    if table:
        if not items:
            click.echo("no notification yet", err=True)
            return
        print_table(["#", "AT (UTC)", "KIND", "TITLE"], [_line(s, n) for s, n in items])
        return
    for seq, notification in items:
        click.echo("  ".join(_line(seq, notification)))
        if notification.body:
            click.secho(f"    {notification.body.splitlines()[0]}", dim=True)


async def _test(project: Project) -> int:
    """Deliver one test notification to each channel and plugin; 1 if any failed."""
    import anyio

    from aegis.notify import Notification, Notifier

    notifier = Notifier(str(project.root), [c.channel() for c in project.notifications])
    channels = notifier.channels_now()
    if not channels:
        click.echo(
            "no channel to test: .aegis.py declares no `notifications` and no plugin "
            "implements notify (the TUI's bell needs no test)",
            err=True,
        )
        return 0
    notification = Notification(
        kind="test",
        title="aegis: a test notification",
        body=f"sent by `aegis notifications --test` in {project.root}",
        project=str(project.root),
    )
    from aegis.notify.desktop import DesktopChannel

    failed = 0
    for channel in channels:
        if isinstance(channel, DesktopChannel) and not channel.available():
            click.secho(f"- {channel.name}: skipped, no notify-send on PATH", dim=True)
            continue
        try:
            with anyio.fail_after(channel.deadline):
                await channel.deliver(notification)
        except Exception as exc:
            failed += 1
            click.secho(f"✗ {channel.name}: {type(exc).__name__}: {exc}", fg="red")
        else:
            click.secho(f"✓ {channel.name}", fg="green")
    return 1 if failed else 0
