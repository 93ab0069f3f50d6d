"""``aegis workflow``: list, run, watch, cancel and inspect workflows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import anyio
import click

from aegis.cli._client import run_client
from aegis.cli._context import Limit, load_project, locate_project, print_json, print_table
from aegis.cli._errors import CliError
from aegis.cli._runtime import EXIT_SIGINT, run_command

if TYPE_CHECKING:
    from aegis.config.loader import Project
    from aegis.daemon.client import DaemonClient
    from aegis.daemon.launch import Starting
    from aegis.project_files import ProjectFiles
    from aegis.workflow.records import RunRecord


@click.group()
def workflow() -> None:
    """Run deterministic Python workflows that drive agents, queues and the shell.

    A run that failed, crashed or was cancelled continues from its last
    checkpoint with `aegis workflow resume RUN`.

    Workflows are `async def` functions decorated with @workflow in .aegis.py,
    or shipped by packages (aegis-core ships branch_review, tdd_loop, best_of_n
    and execute_plan).
    """


@workflow.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List the workflows: the project's and the packaged ones."""
    import inspect

    from aegis.workflow import get_workflow, list_workflows

    project = load_project(ctx)
    rows: list[dict[str, Any]] = []
    for name in list_workflows():
        fn = get_workflow(name)
        assert fn is not None
        params = list(inspect.signature(fn).parameters.values())[1:]
        rows.append(
            {
                "name": name,
                "source": "project" if name in project.workflows else fn.__module__,
                "arguments": [
                    p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}"
                    for p in params
                ],
                "description": (inspect.getdoc(fn) or "").split("\n")[0],
            }
        )
    if as_json:
        print_json(rows)
        return
    print_table(
        ["NAME", "SOURCE", "ARGUMENTS", "DESCRIPTION"],
        [[r["name"], r["source"], " ".join(r["arguments"]) or "-", r["description"]] for r in rows],
    )


def _parse_args(pairs: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not key=value", param_hint="KEY=VALUE")
        values[key] = value
    return values


@workflow.command()
@click.argument("name")
@click.argument("pairs", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("--arg", "-a", "args", multiple=True, metavar="KEY=VALUE", help="An argument.")
@click.option(
    "--detach",
    "-d",
    is_flag=True,
    help="Start the run in the daemon, print its id and return at once.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run record as JSON at the end.")
@click.pass_context
def run(
    ctx: click.Context,
    name: str,
    pairs: tuple[str, ...],
    args: tuple[str, ...],
    detach: bool,
    as_json: bool,
) -> None:
    """Run workflow NAME in the project's daemon and show its progress live.

    Arguments are KEY=VALUE pairs (or --arg KEY=VALUE), converted to the types
    the workflow's signature declares. The daemon runs the workflow (it is
    started if none runs); log lines and what each of its sessions does are shown
    as they happen. Exit status: 0 when the workflow returned, 1 when it raised
    WorkflowError (an expected failure), 2 when it crashed (its traceback is kept
    in the run record: see `aegis workflow show RUN`).

    Ctrl+C cancels the run (its sessions are closed) and exits 130; a second
    Ctrl+C leaves at once. With --detach the run goes on in the daemon:
    `aegis workflow watch RUN` shows its progress, `aegis workflow cancel RUN`
    stops it. With `aegis --no-daemon`, the run happens in this process (which
    then runs only the queues the workflow delegates to).

    \b
    Examples:
      aegis workflow run tdd_loop predicate="pytest -q" task="fix the bug"
      aegis workflow run branch_review base=main --detach
    """
    from aegis.cli._client import daemon_wanted, warm_request

    arguments = _parse_args(pairs + args)
    if daemon_wanted(ctx):
        # A daemon running .aegis.py as it is now has executed the file and checks the
        # name and the arguments: the file is not executed here.
        located = locate_project(ctx)
        started = warm_request(
            located,
            name="cli:workflow",
            request=lambda client, digest: client.run_workflow_blocking(
                name, arguments, config_digest=digest
            ),
        )
        if started is not None:
            record, interrupted = started
            ctx.exit(
                _run_in_daemon(
                    located,
                    name,
                    arguments,
                    detach=detach,
                    as_json=as_json,
                    started=record,
                    interrupted=interrupted,
                )
            )
        # None answers, or it runs the file as it was: the file is checked here. With no
        # daemon, one starts meanwhile (two processes, two cores: a cold run's start
        # overlaps with the check); if the file has a mistake, it exits as it starts.
        with _started_early(located) as starting:
            project = load_project(ctx)
            _require_workflow(name)
            ctx.exit(
                _run_in_daemon(
                    project, name, arguments, detach=detach, as_json=as_json, starting=starting
                )
            )
    project = load_project(ctx)
    _require_workflow(name)
    if detach:
        raise CliError(
            "--detach needs the daemon (the run would end with this command)",
            hint="drop --no-daemon (or AEGIS_NO_DAEMON)",
        )
    ctx.exit(_run_here(project, name, arguments, as_json=as_json))


def _require_workflow(name: str) -> None:
    """Raise the CLI's error when there is no workflow ``name``."""
    from aegis.workflow import WorkflowError
    from aegis.workflow.registry import require_workflow

    try:
        require_workflow(name)
    except WorkflowError as exc:
        raise CliError(str(exc), hint="`aegis workflow list` lists the workflows") from None


@contextmanager
def _started_early(project: ProjectFiles) -> Iterator[Starting | None]:
    """The project's daemon, started now if none runs (``None`` if one does), for a
    command that checks ``.aegis.py`` before it needs the daemon; its launcher is let go
    however the command ends."""
    from aegis.daemon.launch import release, start_early

    starting = start_early(project.path, project.state_dir)
    try:
        yield starting
    finally:
        if starting is not None:
            release(starting.launcher)  # a no-op once connecting has let it go


SESSION_TAIL_S = 10.0
"""After a run has ended, how long its sessions' last events may take to come."""


def _show_line(stamp: str, message: str) -> None:
    click.secho(f"{stamp[11:19]} {message}", dim=True, err=True)


def _run_in_daemon(
    project: ProjectFiles,
    name: str,
    arguments: dict[str, str],
    *,
    detach: bool,
    as_json: bool,
    resume: str | None = None,
    started: RunRecord | None = None,
    interrupted: bool = False,
    starting: Starting | None = None,
) -> int:
    """Run ``name`` (or resume run ``resume``) in the project's daemon (started if none
    runs), and follow it; its exit status.

    ``started``: the run, already started (by :func:`~aegis.cli._client.warm_request`), to follow;
    ``interrupted``: Ctrl+C was pressed as it started (it is cancelled at once);
    ``starting``: the daemon, started ahead by this command.
    """
    client: list[DaemonClient] = []
    run_ids: list[str] = []
    cancel = {"asked": interrupted}

    async def cancel_run() -> None:
        from aegis.daemon.client import DaemonError

        try:
            await client[0].cancel_workflow(run_ids[0])
        except DaemonError:  # it has just ended (or the daemon went away): nothing to stop
            return
        click.secho(
            f"cancelling {run_ids[0]}… (Ctrl+C again leaves it to end in the daemon)",
            fg="yellow",
            err=True,
        )

    async def on_sigint() -> bool:
        if cancel["asked"]:
            return False  # a second Ctrl+C: leave now; the daemon goes on cancelling
        cancel["asked"] = True
        if run_ids:
            await cancel_run()
        return True  # cancelled once submitted (the run id is not known yet)

    async def main() -> int:
        from aegis.cli._client import project_daemon
        from aegis.daemon.client import DaemonClient

        if started is not None:
            client.append(DaemonClient(project.state_dir, name="cli:workflow"))
            record = started
        else:
            client.append(await project_daemon(project, name="cli:workflow", starting=starting))
            if resume is None:
                record = await client[0].run_workflow(name, arguments)
            else:
                record = await client[0].resume_workflow(resume)
        run_ids.append(record.id)
        if cancel["asked"]:
            await cancel_run()
        elif detach:
            if as_json:
                print_json(record.as_dict())
            else:
                click.echo(record.id)
            click.secho(
                f"{record.id} runs in the daemon: `aegis workflow watch {record.id}` shows "
                f"its progress, `aegis workflow cancel {record.id}` stops it",
                dim=True,
                err=True,
            )
            return 0
        ended = await _watch(client[0], record.id)
        status = _report(ended, as_json=as_json)
        return EXIT_SIGINT if cancel["asked"] else status

    return run_client(main, on_sigint=on_sigint)


async def _watch(client: DaemonClient, run_id: str) -> RunRecord:
    """Show run ``run_id``'s log lines and its sessions' events until it ends; its record."""
    from aegis.cli._render import ProgressPrinter
    from aegis.daemon.client import Numbered, RunEnd, RunLine, RunSession

    printer = ProgressPrinter()
    end: RunEnd | None = None
    shown: dict[str, int] = {}  # by session: the number of its last event shown
    following: dict[str, anyio.CancelScope] = {}

    def all_shown(handle: str) -> bool:
        """Whether the session's events up to the run's end have been shown."""
        last = end.sessions.get(handle) if end is not None else None
        return last is not None and shown.get(handle, 0) >= last

    async def follow(handle: str) -> None:
        with anyio.CancelScope() as following[handle]:
            async for item in client.events(handle, 0):
                if isinstance(item, Numbered):
                    printer.show(handle, item.event)
                    shown[handle] = item.seq
                    if all_shown(handle):
                        return

    async with anyio.create_task_group() as sessions:
        async for item in client.workflow_log(run_id):
            if isinstance(item, RunLine):
                _show_line(item.stamp, item.message)
            elif isinstance(item, RunSession):
                sessions.start_soon(follow, item.handle)
            else:
                end = item
        # A session live at the run's end is followed up to its last event then (not to
        # its close: a queue's worker closes after its task); one that had ended, to
        # the end of its stream. Bounded: one may not close.
        for handle, scope in following.items():
            if all_shown(handle):
                scope.cancel()
        sessions.cancel_scope.deadline = anyio.current_time() + SESSION_TAIL_S
    if end is None:
        raise CliError(
            f"the daemon stopped answering before run {run_id} ended",
            hint=f"`aegis workflow show {run_id}` shows its record",
        )
    if end.reason == "not run by this daemon":
        raise CliError(
            f"run {run_id} runs in another aegis process, not in the daemon",
            hint=f"`aegis workflow show {run_id}` shows its record",
        )
    return end.run


def _run_here(
    project: Project,
    name: str,
    arguments: dict[str, str],
    *,
    as_json: bool,
    resume: RunRecord | None = None,
) -> int:
    """The run in this process (``--no-daemon``): it ends with the command."""

    async def main() -> int:
        from aegis.cli._render import ProgressPrinter
        from aegis.runtime import Runtime

        printer = ProgressPrinter()
        # Only the queues the workflow delegates to are dispatched here: a task others
        # left queued on another queue is not this run's to run (nor to show).
        async with (
            Runtime(project, dispatch_on_use=True) as runtime,
            anyio.create_task_group() as tg,
        ):
            with runtime.sessions.subscribe() as stream:

                async def progress() -> None:
                    async for handle, event in stream:
                        printer.show(handle, event)

                tg.start_soon(progress)
                if resume is None:
                    record = await runtime.workflows.run(name, arguments, on_log=_show_line)
                else:
                    for stamp, message in resume.log:
                        _show_line(stamp, message)
                    record = await runtime.workflows.resume(resume.id, on_log=_show_line)
        return _report(record, as_json=as_json)

    return run_command(main)


def _report(record: RunRecord, *, as_json: bool) -> int:
    """Print how a run ended (its result on stdout); the exit status it gives."""
    if as_json:
        print_json(record.as_dict())
    elif record.status.value == "ok":
        if record.result is not None:
            click.echo(_result_text(record.result))
        click.secho(f"ok: {record.id} ({record.duration_s or 0:.1f}s)", fg="green", err=True)
    elif record.error == "cancelled":
        click.secho(f"cancelled: {record.id}", fg="yellow", err=True)
        click.secho(f"resume it: aegis workflow resume {record.id}", dim=True, err=True)
    else:
        click.secho(f"{record.status.value}: {record.error}", fg="red", err=True)
        click.secho(f"run record: aegis workflow show {record.id}", dim=True, err=True)
        click.secho(f"resume it: aegis workflow resume {record.id}", dim=True, err=True)
    return record.status.exit_code


@workflow.command()
@click.argument("run_id", metavar="RUN")
@click.option("--json", "as_json", is_flag=True, help="Print the run record as JSON at the end.")
@click.pass_context
def watch(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Show the progress of run RUN of the daemon live, until it ends.

    RUN is a run id, a unique start of one, or `last`. Its log so far is shown
    first. Ctrl+C stops watching; the run goes on. The exit status is the run's,
    as for `aegis workflow run`. A run that has ended is shown from its record
    (no daemon needed).
    """
    project = load_project(ctx)
    record = _find_run(project, run_id)

    async def main() -> int:
        from aegis.daemon.client import DaemonClient, DaemonNotRunning

        client = DaemonClient(project.state_dir, name="cli:workflow")
        try:
            await client.status()
        except DaemonNotRunning:
            pass
        else:
            return _report(await _watch(client, record.id), as_json=as_json)
        # No daemon: the record on disk says all there is.
        for stamp, message in record.log:
            _show_line(stamp, message)
        if record.status.value == "running":
            raise CliError(
                f"run {record.id} does not run in a daemon (none runs for this project)",
                hint=_elsewhere_hint(record),
            )
        return _report(record, as_json=as_json)

    ctx.exit(run_client(main))


@workflow.command()
@click.argument("run_id", metavar="RUN")
@click.pass_context
def cancel(ctx: click.Context, run_id: str) -> None:
    """Cancel run RUN of the daemon, and wait until it has ended.

    RUN is a run id, a unique start of one, or `last`. The workflow stops where it
    is, the tasks it waits for are cancelled, and its sessions are closed; its
    record ends `failed`, error `cancelled`.

    \b
    Example:
      aegis workflow cancel last
    """
    project = load_project(ctx)
    record = _find_run(project, run_id)
    if record.status.value != "running":
        raise CliError(
            f"run {record.id} has ended ({record.status.value})",
            hint=f"`aegis workflow show {record.id}` shows it",
        )

    async def main() -> int:
        from aegis.daemon.client import DaemonClient, DaemonNotRunning

        client = DaemonClient(project.state_dir, name="cli:workflow")
        try:
            ended = await client.cancel_workflow(record.id, wait=True)
        except DaemonNotRunning:
            raise CliError(
                f"run {record.id} does not run in a daemon (none runs for this project)",
                hint=_elsewhere_hint(record),
            ) from None
        click.echo(f"{ended.id}: {'cancelled' if ended.error == 'cancelled' else ended.status}")
        return 0

    ctx.exit(run_client(main))


@workflow.command()
@click.argument("run_id", metavar="RUN")
@click.option(
    "--detach",
    "-d",
    is_flag=True,
    help="Resume the run in the daemon, print its id and return at once.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run record as JSON at the end.")
@click.pass_context
def resume(ctx: click.Context, run_id: str, detach: bool, as_json: bool) -> None:
    """Continue run RUN from its last checkpoint, under the same run id.

    RUN is a run id, a unique start of one, or `last`; it must have failed (a
    WorkflowError, or `aegis workflow cancel`) or crashed (an exception, or the
    aegis process running it was killed). The workflow is called again with the
    same arguments; engine.resume_state() gives it the checkpoints of the earlier
    attempts, so it skips what is done (a workflow without checkpoints starts
    over). Its log goes on, and progress is shown as for `aegis workflow run`,
    with the same exit statuses.

    \b
    Examples:
      aegis workflow resume last
      aegis workflow resume 20260101-120000-execute_plan-1a2b --detach
    """
    from aegis.cli._client import daemon_wanted

    project = load_project(ctx)
    record = _find_run(project, run_id)
    if not record.resumable:
        hint = f"`aegis workflow run {record.workflow}` starts a new run"
        if record.status.value == "running":
            hint = f"`aegis workflow cancel {record.id}` stops it"
            pid = record.owner.split(":")[1] if record.owner else None
            if pid:  # the daemon's run, or one of `aegis --no-daemon workflow run`
                hint += f" if the daemon runs it; else Ctrl+C in the aegis process (pid {pid})"
        raise CliError(
            f"run {record.id} is {record.status.value}: only a failed, crashed or cancelled "
            "run can be resumed",
            hint=hint,
        )
    _require_workflow(record.workflow)
    if daemon_wanted(ctx):
        ctx.exit(
            _run_in_daemon(
                project, record.workflow, {}, detach=detach, as_json=as_json, resume=record.id
            )
        )
    if detach:
        raise CliError(
            "--detach needs the daemon (the run would end with this command)",
            hint="drop --no-daemon (or AEGIS_NO_DAEMON)",
        )
    ctx.exit(_run_here(project, record.workflow, {}, as_json=as_json, resume=record))


def _elsewhere_hint(record: RunRecord) -> str | None:
    if record.owner is None:
        return None
    return f"it runs in aegis process {record.owner.split(':')[1]}: Ctrl+C there stops it"


def _when(stamp: float | None) -> str:
    return "-" if stamp is None else datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")


@workflow.command()
@click.option(
    "--limit", type=Limit(), default=20, show_default=True, help="How many of the latest runs."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def runs(ctx: click.Context, limit: int, as_json: bool) -> None:
    """List the latest workflow runs of this project."""
    from aegis.workflow.records import load_runs

    records = load_runs(load_project(ctx).state_dir)[-limit:]
    if as_json:
        print_json([r.as_dict() for r in records])
        return
    print_table(
        ["RUN", "WORKFLOW", "STATUS", "STARTED", "DURATION"],
        [
            [
                r.id,
                r.workflow,
                r.status.value,
                _when(r.started_at),
                "-" if r.duration_s is None else f"{r.duration_s:.1f}s",
            ]
            for r in records
        ],
    )


LATEST = "last"
"""The RUN that names the latest run."""


@workflow.command()
@click.argument("run_id", metavar="RUN")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Show one run: status, arguments, result or error, log lines, timings.

    RUN is a run id, a unique start of one, or `last` for the latest run.
    """
    record = _find_run(load_project(ctx), run_id)
    if as_json:
        print_json(record.as_dict())
        return
    arguments = " ".join(f"{key}={value}" for key, value in record.arguments.items())
    click.secho(f"{record.id}: {record.workflow} {record.status.value}", bold=True)
    click.echo(f"  arguments: {arguments or '-'}")
    click.echo(f"  started:   {_when(record.started_at)}")
    click.echo(f"  finished:  {_when(record.finished_at)}")
    if record.caller_handle:
        click.echo(f"  caller:    {record.caller_handle}")
    if record.attempt > 1:
        click.echo(f"  attempt:   {record.attempt}")
    if record.checkpoints:
        click.echo(f"  checkpoints: {', '.join(record.checkpoints)}")
    if record.error:
        click.secho(f"  error:     {_indented(record.error)}", fg="red")
    if record.result is not None:
        click.echo(f"  result:    {_indented(_result_text(record.result))}")
    if record.log:
        click.secho("log:", bold=True)
        for stamp, message in record.log:
            click.echo(f"  {stamp[11:23]} {message}")
    if record.traceback:
        click.secho("traceback:", bold=True)
        click.echo(record.traceback)


def _find_run(project: Project, run_id: str) -> RunRecord:
    """The run RUN names: an id, a unique start of one, or `last`."""
    from aegis.workflow.records import load_runs

    runs = load_runs(project.state_dir)
    records = runs[-1:] if run_id == LATEST else [r for r in runs if r.id.startswith(run_id)]
    if not records:
        what = "no workflow run yet" if run_id == LATEST else f"no workflow run {run_id!r}"
        raise CliError(what, hint="`aegis workflow runs` lists the runs")
    if len(records) > 1:
        raise CliError(
            f"{run_id!r} matches {len(records)} runs",
            hint="give more of the id: " + ", ".join(r.id for r in records),
        )
    return records[0]


def _result_text(result: Any) -> str:
    return result if isinstance(result, str) else json.dumps(result, indent=2, default=str)


def _indented(text: str) -> str:
    """``text`` with its second and later lines aligned under its first (after a label)."""
    return text.replace("\n", "\n" + " " * len("  result:    "))
