"""``aegis worker``: a process that runs queued tasks here, for a store shared by hosts."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

import click

from aegis.cli._context import load_project
from aegis.cli._errors import CliError
from aegis.cli._runtime import run_command
from aegis.cli.queue_cmd import check_store
from aegis.hookspecs import hookimpl
from aegis.plugins import get_host

if TYPE_CHECKING:
    from aegis.config.loader import Project
    from aegis.queue.task import TaskRecord

DRAIN_INTERRUPTED = (
    "interrupted: the aegis worker running it ({owner}) was stopped ({why}) before the task ended"
)
"""The error of a task a stopping worker ended (failed, its callback once; retry it)."""


@click.command()
@click.option(
    "-q",
    "--queue",
    "queue_names",
    multiple=True,
    metavar="NAME",
    help="A queue to run tasks of (repeat for several). Default: every queue of .aegis.py.",
)
@click.option(
    "-j",
    "--max-parallel",
    type=click.IntRange(min=1),
    metavar="N",
    help="Run at most N tasks at once in this worker, over all its queues. Each queue's "
    "max_parallel holds besides, across every worker of every host. Default: no limit "
    "of its own.",
)
@click.option(
    "--drain-timeout",
    type=click.FloatRange(min=0),
    default=300.0,
    show_default=True,
    metavar="SECONDS",
    help="After SIGTERM, how long running tasks get to finish before they are interrupted.",
)
@click.pass_context
def worker(
    ctx: click.Context,
    queue_names: tuple[str, ...],
    max_parallel: int | None,
    drain_timeout: float,
) -> None:
    """Run the project's queued tasks on this host, until stopped.

    For workers on several hosts sharing one queue database (PostgreSQL, from
    the aegis-queue-postgres package): start one on each host that has the
    project's checkout and the harness CLIs. A worker claims the oldest task of
    its queues as soon as one is enqueued anywhere (it is woken by the database,
    with a slow safety poll), runs it on a fresh session of the queue's agent
    here (with this host's MCP plane, so the agent has aegis's tools), records the
    result, and delivers the callbacks and handoffs meant for this host's sessions.
    Its claims are leases renewed by heartbeats: if it dies or loses the database,
    its tasks are failed after the lease, each with one callback. `aegis queue show`
    lists the workers of every host.

    The first SIGTERM (or Ctrl+C, or SIGHUP) drains: no new task is taken, the
    running ones finish, then the worker exits (status 0). A second one, or the end
    of --drain-timeout, interrupts them: each is recorded failed with the reason,
    its callback sent once (`aegis queue retry` runs it again).

    \b
    Examples:
      aegis worker
      aegis worker --queue review --queue tests --max-parallel 4
      AEGIS_DB_PASSWORD=... aegis -c /srv/project worker
    """
    project = load_project(ctx)
    unknown = [name for name in queue_names if name not in project.queues]
    if unknown:
        known = ", ".join(project.queues) or "none are declared in .aegis.py"
        raise CliError(f"no queue {unknown[0]!r}", hint=f"queues: {known}")
    if not project.queues:
        raise CliError(
            "the project declares no queue: a worker would have nothing to run",
            hint="declare queues in .aegis.py: "
            "queues = [Queue('work', agent_profile='main', max_parallel=2)]",
        )
    check_store(project)
    serve = list(dict.fromkeys(queue_names)) or list(project.queues)
    ctx.exit(_run(project, serve, max_parallel, drain_timeout))


def _run(project: Project, serve: list[str], max_parallel: int | None, drain_timeout: float) -> int:
    import logging
    import sys

    import anyio

    from aegis.queue.owner import current_owner

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    owner = current_owner()
    stops = 0
    stopped = anyio.Event()  # the first stop signal: drain
    forced = anyio.Event()  # the second: interrupt

    async def on_stop(signum: signal.Signals) -> bool:
        nonlocal stops
        stops += 1
        if stops == 1:
            click.echo(
                f"aegis worker: {signum.name}: draining (no new task; "
                f"{drain_timeout:g} s for the running ones; again to interrupt them)",
                err=True,
            )
            stopped.set()
        else:
            forced.set()
        return True

    async def main() -> int:
        from aegis.queue import leftovers

        # What a worker of this host killed with kill -9 left running is stopped first,
        # and this one notes how to find its own agents if it is killed in turn.
        await anyio.to_thread.run_sync(leftovers.sweep, project.state_dir)
        note = await anyio.to_thread.run_sync(leftovers.record, project.state_dir, owner)
        try:
            return await work()
        finally:
            note.unlink(missing_ok=True)

    async def work() -> int:
        from aegis.runtime import Runtime

        async with (
            Runtime(project, serve_queues=serve, max_running=max_parallel) as runtime,
            _TaskLines(),
        ):
            queues = runtime.queues
            names = ", ".join(
                f"{q.name} ({q.agent_profile}, max {q.max_parallel})"
                for q in project.queues.values()
                if q.name in serve
            )
            click.echo(f"aegis worker {owner}: {project.root}", err=True)
            click.echo(f"  queues: {names}", err=True)
            if max_parallel is not None:
                click.echo(f"  at most {max_parallel} task(s) at once here", err=True)
            click.echo("  SIGTERM or Ctrl+C drains; a second one interrupts", err=True)
            await stopped.wait()
            await queues.stop_taking()
            why = ""
            with anyio.move_on_after(drain_timeout) as timer:
                async with anyio.create_task_group() as tg:

                    async def on_forced() -> None:
                        nonlocal why
                        await forced.wait()
                        why = "a second stop signal"
                        tg.cancel_scope.cancel()

                    tg.start_soon(on_forced)
                    await queues.until_idle()
                    tg.cancel_scope.cancel()
            if timer.cancelled_caught:
                why = f"the {drain_timeout:g} s drain timeout"
            if why and queues.running_here:
                click.echo(
                    f"aegis worker: interrupting {queues.running_here} task(s): {why}", err=True
                )
                await queues.interrupt_running(DRAIN_INTERRUPTED.format(owner=owner, why=why))
        click.echo("aegis worker: stopped", err=True)
        return 0

    return run_command(main, on_stop=on_stop)


class _TaskLines:
    """While inside, a line is printed when a task of this process starts and ends."""

    def __init__(self) -> None:
        from aegis.queue.owner import current_owner

        self.owner = current_owner()

    async def __aenter__(self) -> None:
        get_host().register(self, "aegis-worker-lines")

    async def __aexit__(self, *exc: object) -> None:
        get_host().unregister(self)

    @hookimpl
    def task_started(self, task: TaskRecord) -> None:
        click.echo(f"{task.id} {task.queue}: started ({task.worker_handle})", err=True)

    @hookimpl
    def task_finished(self, task: TaskRecord) -> None:
        if task.owner != self.owner:
            return  # ended elsewhere, only seen here (a cancel, a recovered lease)
        detail = "" if task.status.value == "done" else f": {task.error}"
        click.echo(f"{task.id} {task.queue}: {task.status.value}{detail}", err=True)
