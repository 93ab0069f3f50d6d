"""``aegis workflow``: list, run and inspect workflows."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import anyio
import click

from aegis.cli._context import Limit, load_project, print_json, print_table
from aegis.cli._errors import CliError
from aegis.cli._runtime import run_command


@click.group()
def workflow() -> None:
    """Run deterministic Python workflows that drive agents, queues and the shell.

    Workflows are `async def` functions decorated with @workflow in .aegis.py,
    or shipped by packages (aegis-core ships branch_review and tdd_loop).
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
            raise click.BadParameter(f"{pair!r} is not key=value", param_hint="--arg")
        values[key] = value
    return values


@workflow.command()
@click.argument("name")
@click.option("--arg", "-a", "args", multiple=True, metavar="KEY=VALUE", help="An argument.")
@click.option("--json", "as_json", is_flag=True, help="Print the run record as JSON at the end.")
@click.pass_context
def run(ctx: click.Context, name: str, args: tuple[str, ...], as_json: bool) -> None:
    """Run workflow NAME and show its progress live.

    Log lines and what each session does are shown as they happen. Exit status:
    0 when the workflow returned, 1 when it raised WorkflowError (an expected
    failure), 2 when it crashed (its traceback is kept in the run record: see
    `aegis workflow show RUN`).

    \b
    Example:
      aegis workflow run tdd_loop --arg predicate="pytest -q" --arg task="fix the bug"
    """
    from aegis.workflow import WorkflowError
    from aegis.workflow.registry import require_workflow

    project = load_project(ctx)
    arguments = _parse_args(args)
    try:
        require_workflow(name)  # before the runtime starts for nothing
    except WorkflowError as exc:
        raise CliError(str(exc), hint="`aegis workflow list` lists the workflows") from None

    async def main() -> int:
        from aegis.cli._render import ProgressPrinter
        from aegis.runtime import Runtime

        def on_log(stamp: str, message: str) -> None:
            click.secho(f"{stamp[11:19]} {message}", dim=True, err=True)

        printer = ProgressPrinter()
        async with Runtime(project) as runtime, anyio.create_task_group() as tg:
            with runtime.sessions.subscribe() as stream:

                async def progress() -> None:
                    async for handle, event in stream:
                        printer.show(handle, event)

                tg.start_soon(progress)
                record = await runtime.workflows.run(name, arguments, on_log=on_log)
        if as_json:
            print_json(record.as_dict())
        elif record.status.value == "ok":
            if record.result is not None:
                click.echo(_result_text(record.result))
            click.secho(f"ok: {record.id} ({record.duration_s:.1f}s)", fg="green", err=True)
        else:
            click.secho(f"{record.status.value}: {record.error}", fg="red", err=True)
            click.secho(f"run record: aegis workflow show {record.id}", dim=True, err=True)
        return record.status.exit_code

    ctx.exit(run_command(main))


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
    from aegis.workflow.runner import load_runs

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
    from aegis.workflow.runner import load_runs

    runs = load_runs(load_project(ctx).state_dir)
    records = runs[-1:] if run_id == LATEST else [r for r in runs if r.id.startswith(run_id)]
    if not records:
        what = "no workflow run yet" if run_id == LATEST else f"no workflow run {run_id!r}"
        raise CliError(what, hint="`aegis workflow runs` lists the runs")
    if len(records) > 1:
        raise CliError(
            f"{run_id!r} matches {len(records)} runs",
            hint="give more of the id: " + ", ".join(r.id for r in records),
        )
    record = records[0]
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


def _result_text(result: Any) -> str:
    return result if isinstance(result, str) else json.dumps(result, indent=2, default=str)


def _indented(text: str) -> str:
    """``text`` with its second and later lines aligned under its first (after a label)."""
    return text.replace("\n", "\n" + " " * len("  result:    "))
