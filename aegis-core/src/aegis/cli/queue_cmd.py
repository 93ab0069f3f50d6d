"""``aegis queue``: see, feed and steer the project's queues of worker agents."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from aegis.cli._client import run_client
from aegis.cli._context import (
    Limit,
    load_project,
    locate_project,
    print_json,
    print_table,
    read_text_argument,
    text_at_hand,
)
from aegis.cli._errors import CliError
from aegis.cli._runtime import EXIT_SIGINT, run_command

if TYPE_CHECKING:
    from aegis.config.loader import Project
    from aegis.project_files import ProjectFiles
    from aegis.queue.manager import QueueManager
    from aegis.queue.task import TaskRecord

T = TypeVar("T")

CLIENT = "cli:queue"
"""Who the queue commands are, to the daemon."""


def _result_of(
    work: Callable[[], Awaitable[T]],
    run: Callable[[Callable[[], Awaitable[int]]], int] = run_client,
) -> T:
    """What ``work`` returns, run by ``run`` (:func:`~aegis.cli._client.run_client`, or
    :func:`~aegis.cli._runtime.run_command` for work in this process); when it did not
    finish (Ctrl+C, a signal), the command exits with the status ``run`` gave."""
    box: list[T] = []

    async def main() -> int:
        box.append(await work())
        return 0

    status = run(main)
    if not box:
        raise SystemExit(status)
    return box[0]


def _with_queues(
    project: Project, action: Callable[[QueueManager], Awaitable[T]], *, dispatch: bool = False
) -> T:
    """Run ``action`` with the project's QueueManager (dispatching tasks only if asked)."""
    check_store(project)

    async def work() -> T:
        from aegis.runtime import Runtime

        async with Runtime(project, dispatch=dispatch, mcp=False) as runtime:
            return await action(runtime.queues)

    return _result_of(work, run_command)


def check_store(project: Project) -> None:
    """Reach the project's queue backend once: a database that is away (or not migrated)
    is one clear error before anything starts, not warnings of its loops first."""
    from aegis.queue.backends import get_queue_backend

    backend = get_queue_backend(None, project.state_dir, chosen=project.queue_backend)
    try:
        backend.counts()
    finally:
        backend.close()


def _held(project: Project) -> dict[str, str]:
    """``{queue: reason}`` of the queues a budget holds today (read from .aegis/usage.db)."""
    import time

    from aegis.usage.ceilings import queue_reasons
    from aegis.usage.ledger import open_ledger, utc_day

    ledger = open_ledger(project.state_dir)
    try:
        return queue_reasons(ledger, project.limits, project.queues, utc_day(time.time()))
    finally:
        if ledger is not None:
            ledger.close()


def _when(stamp: float | None) -> str:
    return "-" if stamp is None else datetime.fromtimestamp(stamp).strftime("%H:%M:%S")


def _duration(task: TaskRecord) -> str:
    if task.started_at is None:
        return "-"
    end = task.finished_at or datetime.now().timestamp()
    return f"{end - task.started_at:.1f}s"


def _preview(text: str | None, limit: int = 60) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@click.group()
def queue() -> None:
    """Queues of worker agents: each task runs on a fresh session of the queue's agent.

    Queues are declared in .aegis.py (`queues = [Queue(...)]`). Tasks are kept in
    .aegis/queue.db: they survive restarts. The project's daemon runs them
    (`aegis queue enqueue` starts it); `cancel` and `retry` go through it when it
    runs. The other commands read .aegis/queue.db and need no daemon.
    """


@queue.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """Each queue with its agent and its tasks: running, queued, done, failed.

    A queue whose budget (or the project's daily budget) is reached is held: its
    tasks stay queued, and the reason is shown below the table (`held` in JSON).

    With a backend that leases its claims (PostgreSQL), a second table lists the
    aegis processes serving the queues, on every host: host, pid, queues, how many
    tasks each runs, and how long ago it last renewed its claims.
    """
    project = load_project(ctx)

    async def look(queues: QueueManager) -> tuple[dict[str, dict[str, int]], list[dict[str, Any]]]:
        return await queues.counts(), await queues.workers()

    counts, workers = _with_queues(project, look)
    held = _held(project)
    rows: list[dict[str, Any]] = []
    for name in sorted({*project.queues, *counts}):
        declared = project.queues.get(name)
        per_status = counts.get(name, {})
        rows.append(
            {
                "name": name,
                "agent_profile": declared.agent_profile if declared else None,
                "max_parallel": declared.max_parallel if declared else None,
                **{s: per_status.get(s, 0) for s in ("running", "queued", "done", "failed")},
                "cancelled": per_status.get("cancelled", 0),
                "held": held.get(name),
            }
        )
    if as_json:
        print_json(rows)
        return
    print_table(
        ["QUEUE", "AGENT", "PARALLEL", "RUNNING", "QUEUED", "DONE", "FAILED"],
        [
            [
                r["name"] + ("" if r["agent_profile"] else " (not declared)"),
                r["agent_profile"] or "-",
                str(r["max_parallel"] or "-"),
                *(str(r[s]) for s in ("running", "queued", "done", "failed")),
            ]
            for r in rows
        ],
    )
    for r in rows:
        if r["held"]:
            click.secho(f"{r['name']}: held, its tasks stay queued: {r['held']}", fg="yellow")
    if workers:
        click.echo()
        _print_workers(workers)


def _print_workers(workers: list[dict[str, Any]]) -> None:
    print_table(
        ["WORKER HOST", "PID", "QUEUES", "RUNNING", "HEARTBEAT"],
        [
            [
                w["host"],
                str(w["pid"]),
                ",".join(w["queues"]) or "-",
                str(w["running"]),
                f"{w['heartbeat_age']:.0f}s ago",
            ]
            for w in workers
        ],
    )


@queue.command()
@click.argument("queue_name", metavar="[QUEUE]", required=False)
@click.option("--status", type=click.Choice(["queued", "running", "done", "failed", "cancelled"]))
@click.option(
    "--limit", type=Limit(), default=30, show_default=True, help="How many of the latest tasks."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def tasks(
    ctx: click.Context, queue_name: str | None, status: str | None, limit: int, as_json: bool
) -> None:
    """The latest tasks (of QUEUE), oldest first."""
    project = load_project(ctx)
    found = _with_queues(project, lambda q: q.list_tasks(queue_name, status, limit))
    if as_json:
        print_json([task.as_dict() for task in found])
        return
    print_table(
        ["TASK", "QUEUE", "STATUS", "STARTED", "TOOK", "RESULT / ERROR"],
        [
            [
                t.id,
                t.queue,
                t.status.value,
                _when(t.started_at),
                _duration(t),
                _preview(t.result if t.status.value == "done" else t.error),
            ]
            for t in found
        ],
    )


def _show_task(task: TaskRecord) -> None:
    click.secho(f"{task.id}: {task.status.value}", bold=True)
    click.echo(f"  queue:    {task.queue}")
    click.echo(f"  sender:   {task.sender}{' (callback)' if task.callback else ''}")
    click.echo(
        f"  attempt:  {task.attempt}" + (f" (retry of {task.retry_of})" if task.retry_of else "")
    )
    click.echo(
        f"  created:  {_when(task.created_at)}  started: {_when(task.started_at)}  "
        f"finished: {_when(task.finished_at)}  took: {_duration(task)}"
    )
    if task.worker_handle:
        click.echo(f"  worker:   {task.worker_handle}")
    if task.owner:
        host, _, rest = task.owner.partition(":")
        click.echo(f"  ran by:   aegis process {rest.partition(':')[0]} on {host}")
    if task.workspace and task.workspace.get("branch"):
        stat = task.workspace.get("stat") or task.workspace.get("state")
        click.echo(f"  branch:   {task.workspace['branch']} ({stat}): `aegis diff {task.id}`")
    if task.usage is not None:
        cost = f", ${task.usage.cost_usd:.4f}" if task.usage.cost_usd is not None else ""
        click.echo(
            f"  usage:    {task.usage.input_tokens} in, {task.usage.output_tokens} out{cost}"
        )
    click.secho("payload:", bold=True)
    click.echo(task.payload)
    if task.error:
        click.secho(f"error: {task.error}", fg="red")
    if task.result:
        click.secho("result:", bold=True)
        click.echo(task.result)


@queue.command()
@click.argument("queue_name", metavar="QUEUE")
@click.argument("payload")
@click.option("--wait", is_flag=True, help="Wait for the task to end and print its result.")
@click.option("--timeout", type=float, help="With --wait: give up after this many seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print the task as JSON.")
@click.pass_context
def enqueue(
    ctx: click.Context,
    queue_name: str,
    payload: str,
    wait: bool,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Add a task with PAYLOAD (`-`: read it from stdin) to QUEUE and print its id.

    The project's daemon runs it (the daemon is started if none runs); stderr says
    how to follow it. With --wait, the command waits for the task's end, prints
    the worker's final answer, and exits 0 when the task is done, 1 when it failed
    or was cancelled (Ctrl+C stops waiting; the task goes on).

    With `aegis --no-daemon`, the task is only kept in .aegis/queue.db: it runs
    when an aegis that runs this project's queues runs (`aegis serve`, the
    daemon), and stderr says whether one does; with --wait, this process runs the
    queues until the task ends.

    \b
    Examples:
      aegis queue enqueue work "Fix the flaky test in tests/test_io.py"
      git diff | aegis queue enqueue reviewers - --wait
    """
    from aegis.cli._client import daemon_wanted, warm_request

    text: str | None = None
    if daemon_wanted(ctx) and text_at_hand(payload):
        # The payload is at hand (nobody types it): a daemon running .aegis.py as it is
        # now queues the task at once, and checks the queue's name; the file is not
        # executed here.
        located = locate_project(ctx)
        text = given = read_text_argument(payload, "the payload")
        queued = warm_request(
            located,
            name=CLIENT,
            request=lambda client, digest: client.enqueue_blocking(
                queue_name, given, config_digest=digest
            ),
        )
        if queued is not None:
            from aegis.queue.task import TaskRecord

            record, interrupted = queued
            task = TaskRecord.from_dict(record)
            # Ctrl+C as it was queued: it stays queued, as after Ctrl+C in --wait.
            status = _queued_in_daemon(
                located, task, wait=wait and not interrupted, timeout=timeout, as_json=as_json
            )
            ctx.exit(EXIT_SIGINT if interrupted else status)
    project = load_project(ctx)
    if queue_name not in project.queues:
        from aegis.queue.manager import UnknownQueue

        unknown = UnknownQueue(queue_name, project.queues)
        raise CliError(unknown.what, hint=unknown.hint)
    payload = text if text is not None else read_text_argument(payload, "the payload")
    if daemon_wanted(ctx):
        task = _enqueue_in_daemon(project, queue_name, payload)
        ctx.exit(_queued_in_daemon(project, task, wait=wait, timeout=timeout, as_json=as_json))

    async def add_and_maybe_wait(queues: QueueManager) -> TaskRecord:
        task_id = await queues.enqueue(queue_name, payload, sender="user")
        if not wait:
            found = await queues.get(task_id)
            assert found is not None
            return found
        click.secho(f"{task_id} queued on {queue_name}; waiting…", dim=True, err=True)
        return await queues.wait(task_id, timeout=timeout)

    from aegis.queue.backend import PayloadTooLarge

    try:
        task = _with_queues(project, add_and_maybe_wait, dispatch=wait)
    except TimeoutError:
        raise _timed_out(timeout) from None
    except PayloadTooLarge as exc:
        raise CliError(str(exc), hint=exc.hint) from None
    status = _show_enqueued(task, wait=wait, as_json=as_json)
    if not wait and not as_json:
        _say_who_runs(project, task)
    ctx.exit(status)


def _show_enqueued(task: TaskRecord, *, wait: bool, as_json: bool) -> int:
    """Print ``task``: as JSON, its id, or (``wait``: it has ended) its result or error;
    the command's exit status (1 when it waited for a task that did not succeed)."""
    if as_json:
        print_json(task.as_dict())
    elif not wait:
        click.echo(task.id)
    elif task.status.value == "done":
        click.echo(task.result or "")
    else:
        click.secho(f"{task.id} {task.status.value}: {task.error}", fg="red", err=True)
    return 0 if not wait or task.status.value == "done" else 1


def _timed_out(timeout: float | None) -> CliError:
    return CliError(
        f"the task did not end within {timeout:g}s",
        hint="it is still queued or running: `aegis queue show` follows it",
    )


def _enqueue_in_daemon(project: Project, queue_name: str, payload: str) -> TaskRecord:
    """Enqueue on the project's daemon (started if none runs): the task, queued."""
    from aegis.queue.task import TaskRecord

    async def work() -> TaskRecord:
        from aegis.cli._client import project_daemon

        client = await project_daemon(project, name=CLIENT)
        return TaskRecord.from_dict(await client.enqueue(queue_name, payload))

    return _result_of(work)


def _queued_in_daemon(
    project: ProjectFiles, task: TaskRecord, *, wait: bool, timeout: float | None, as_json: bool
) -> int:
    """Say what became of ``task``, queued in the project's daemon: its id and who runs
    it, or (with ``wait``) its result once it has ended there; the exit status."""
    if not wait:
        from aegis.daemon.lock import holder
        from aegis.daemon.protocol import lock_path

        pid = holder(lock_path(project.state_dir)) or "?"
        click.secho(
            f"queued as {task.id}; the aegis daemon (pid {pid}) runs it: "
            f"`aegis queue show {task.id}` shows how it goes",
            dim=True,
            err=True,
        )
    else:
        click.secho(f"{task.id} queued on {task.queue}; waiting…", dim=True, err=True)
        task = _wait_in_daemon(project, task.id, timeout)
    return _show_enqueued(task, wait=wait, as_json=as_json)


def _wait_in_daemon(project: ProjectFiles, task_id: str, timeout: float | None) -> TaskRecord:
    """Task ``task_id`` once it has ended in the project's daemon."""
    from aegis.daemon.client import DaemonClient
    from aegis.queue.task import TaskRecord

    async def work() -> TaskRecord:
        client = DaemonClient(project.state_dir, name=CLIENT)
        try:
            return TaskRecord.from_dict(await client.wait_task(task_id, timeout=timeout))
        except TimeoutError:
            raise _timed_out(timeout) from None

    return _result_of(work)


def _say_who_runs(project: Project, task: TaskRecord) -> None:
    """Tell (on stderr) whether a process runs the queues now, or what will run the task."""
    from aegis.queue.runners import running

    runners = running(project.state_dir)
    if runners:
        pids = ", ".join(owner.split(":")[1] for owner in runners)
        click.secho(
            f"queued as {task.id}; the aegis running this project's queues (pid {pids}) "
            f"will run it (`aegis queue show {task.id}` follows it)",
            dim=True,
            err=True,
        )
    else:
        click.secho(
            f"queued as {task.id}; it runs when `aegis serve` (or another aegis that runs "
            "queues: the TUI, `aegis chat`) is running — none is now (`--wait` runs it here)",
            fg="yellow",
            err=True,
        )


def _task_command(ctx: click.Context, task_id: str, action: str) -> TaskRecord:
    from aegis.cli._client import daemon_wanted
    from aegis.queue.manager import NotRetryable, UnknownTask

    project = load_project(ctx)
    if action != "show" and daemon_wanted(ctx):
        # The daemon runs the tasks: cancelling one it runs stops its worker at once.
        done = _task_command_in_daemon(project, task_id, action)
        if done is not None:
            return done

    async def act(queues: QueueManager) -> TaskRecord:
        if action == "cancel":
            return await queues.cancel(task_id)
        if action == "retry":
            new_id = await queues.retry(task_id)
            task = await queues.get(new_id)
        else:
            task = await queues.get(task_id)
        if task is None:
            raise UnknownTask(f"no task {task_id!r}")
        return task

    try:
        return _with_queues(project, act)
    except (UnknownTask, NotRetryable) as exc:
        raise CliError(str(exc), hint="`aegis queue tasks` lists the tasks") from None


def _task_command_in_daemon(project: Project, task_id: str, action: str) -> TaskRecord | None:
    """Cancel or retry through the running daemon; ``None`` when none runs."""
    from aegis.daemon.client import DaemonClient, DaemonError, DaemonNotRunning
    from aegis.queue.task import TaskRecord

    async def work() -> TaskRecord | None:
        client = DaemonClient(project.state_dir, name=CLIENT)
        try:
            if action == "cancel":
                return TaskRecord.from_dict(await client.cancel_task(task_id))
            return TaskRecord.from_dict(await client.retry_task(task_id))
        except DaemonNotRunning:
            return None
        except DaemonError as exc:
            if exc.code not in ("unknown_task", "not_retryable"):
                raise
            raise CliError(exc.message, hint="`aegis queue tasks` lists the tasks") from None

    return _result_of(work)


@queue.command()
@click.argument("task_id", metavar="[TASK]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show(ctx: click.Context, task_id: str | None, as_json: bool) -> None:
    """Everything about one task: status, timings, payload, result or error, and
    the aegis process (host and pid) that ran it.

    Without TASK: the aegis processes serving the queues, on every host, with a
    backend that leases its claims (PostgreSQL: `aegis worker`, daemons) — host,
    pid, queues, how many tasks each runs, and how long ago it last renewed its
    claims (a worker that stopped beating loses its tasks after the lease).
    """
    if task_id is None:
        workers = _with_queues(load_project(ctx), lambda queues: queues.workers())
        if as_json:
            print_json(workers)
        elif workers:
            _print_workers(workers)
        else:
            click.echo(
                "no aegis process serves the queues now"
                " (the SQLite backend lists none: its workers are this host's daemon)"
            )
        return
    task = _task_command(ctx, task_id, "show")
    held = _held(load_project(ctx)).get(task.queue) if task.status.value == "queued" else None
    if as_json:
        print_json({**task.as_dict(), "held": held})
    else:
        _show_task(task)
        if held:
            click.secho(f"held: {held}", fg="yellow")


@queue.command()
@click.argument("task_id", metavar="TASK")
@click.pass_context
def cancel(ctx: click.Context, task_id: str) -> None:
    """Cancel a task: a queued one never runs, a running one has its worker stopped."""
    task = _task_command(ctx, task_id, "cancel")
    click.echo(f"{task.id}: {task.status.value}")


@queue.command()
@click.argument("task_id", metavar="TASK")
@click.pass_context
def retry(ctx: click.Context, task_id: str) -> None:
    """Run a failed or cancelled task again, as a new task; prints the new task's id."""
    task = _task_command(ctx, task_id, "retry")
    click.echo(task.id)


@queue.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Create or upgrade the tables of the project's queue backend, once, from any host.

    A backend in a shared database (PostgreSQL, from the aegis-queue-postgres
    package) never changes its tables on its own: an aegis that finds them missing
    or older than it needs says to run this. Migrating twice, or from two hosts at
    once, applies each step once. The SQLite backend needs none: it makes
    .aegis/queue.db itself.

    \b
    Examples:
      aegis queue migrate
      AEGIS_DB_PASSWORD=... aegis queue migrate   # password_env of .aegis.py's Postgres(...)
    """
    from aegis.queue.backend import MigratingBackend
    from aegis.queue.backends import get_queue_backend

    project = load_project(ctx)
    backend = get_queue_backend(None, project.state_dir, chosen=project.queue_backend)
    try:
        if not isinstance(backend, MigratingBackend):
            click.echo(f"{type(backend).__name__} makes its own tables: nothing to migrate")
            return
        applied = backend.migrate()
        version = backend.schema_version()
    finally:
        backend.close()
    if applied:
        steps = ", ".join(str(step) for step in applied)
        click.echo(
            f"applied migration{'s' if len(applied) > 1 else ''} {steps}: now at version {version}"
        )
    else:
        click.echo(f"up to date: version {version}")
