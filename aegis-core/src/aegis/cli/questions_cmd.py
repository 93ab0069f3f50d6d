"""``aegis questions`` and ``aegis answer``: the questions workflows and agents put to a person.

Both go through the project's daemon when it runs, and otherwise (or with ``aegis
--no-daemon``) straight to ``.aegis/questions.db``: neither starts a daemon, since
a question needs no daemon to be read or answered. A workflow run of another aegis
process sees the answer at its next look; an agent's answer waits in the project's
inbox for the runtime where the agent lives.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import click

from aegis.cli._client import daemon_wanted, run_client
from aegis.cli._context import locate_project, print_json, print_table, read_text_argument
from aegis.cli._errors import CliError

if TYPE_CHECKING:
    from pathlib import Path

    from aegis.daemon.client import DaemonClient
    from aegis.questions import Question, Questions

T = TypeVar("T")


async def _either(
    ctx: click.Context,
    state_dir: Path,
    in_daemon: Callable[[DaemonClient], Awaitable[T]],
    on_disk: Callable[[Questions], Awaitable[T]],
) -> T:
    """``in_daemon(client)`` when the project's daemon runs (and is wanted), else
    ``on_disk(questions)`` on the store itself."""
    from aegis.daemon.client import DaemonClient, DaemonNotRunning
    from aegis.questions import Questions

    if daemon_wanted(ctx):
        try:
            return await in_daemon(DaemonClient(state_dir, name="cli:questions"))
        except DaemonNotRunning:
            pass
    async with Questions(state_dir, watch=False) as questions:
        return await on_disk(questions)


def _asker(question: Question) -> str:
    return question.asker


def _age(question: Question) -> str:
    seconds = max(0, int(time.time() - question.asked_at))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


def _view(question: Question) -> dict[str, object]:
    data = question.model_dump(mode="json")
    data["run_id"], data["handle"] = question.run_id, question.handle
    return data


@click.command("questions")
@click.option("--all", "show_all", is_flag=True, help="Also the answered, expired and cancelled.")
@click.option("--json", "as_json", is_flag=True, help="Print the questions as JSON.")
@click.pass_context
def questions(ctx: click.Context, show_all: bool, as_json: bool) -> None:
    """List the questions workflows and agents put to a person, oldest first.

    A workflow asks with `await engine.ask_human(...)` and waits; an agent asks with
    its aegis_ask_human tool and goes on, and gets the answer in its inbox. Answer
    one with `aegis answer ID TEXT`. A question of a workflow run that is not
    running is listed with a note: `run stopped` (its aegis died; an answer is kept
    for `aegis workflow resume RUN`) or `asker gone` (the run has ended for good:
    nothing would read an answer).

    \b
    Examples:
      aegis questions
      aegis answer q3f9a1c yes
      aegis questions --all --json
    """
    project = locate_project(ctx)

    async def main() -> int:
        found = await _either(
            ctx,
            project.state_dir,
            lambda client: client.questions(all=show_all),
            lambda store: store.list_questions(pending_only=not show_all),
        )
        if as_json:
            print_json([_view(q) for q in found])
        elif not found:
            click.echo("no questions" if show_all else "no question waits for an answer", err=True)
        else:
            rows = []
            for q in found:
                choices = f" [{' / '.join(q.options)}]" if q.options else ""
                state = q.status.value if q.status.value != "pending" else "waiting"
                if q.note:
                    state = "run stopped" if q.answerable else "asker gone"
                answer = f" -> {q.answer}" if q.answer is not None else ""
                rows.append([q.id, _asker(q), _age(q), state, f"{q.question}{choices}{answer}"])
            print_table(["ID", "ASKED BY", "ASKED", "STATE", "QUESTION"], rows)
            for q in found:
                if q.note:
                    click.secho(f"{q.id}: {q.note}", dim=True, err=True)
        return 0

    ctx.exit(run_client(main))


@click.command("answer")
@click.argument("question_id", metavar="ID")
@click.argument("text", required=False)
@click.pass_context
def answer(ctx: click.Context, question_id: str, text: str | None) -> None:
    """Answer question ID with TEXT (- or none: standard input).

    The answer goes back to the workflow waiting for it, or to the asking agent's
    inbox. When the question has options, TEXT is one of them (case does not
    matter). The first answer wins: a question answered already, expired or
    cancelled takes no other. The answer to a question of a run that is not
    running is kept for it: `aegis workflow resume RUN` hands it over.

    \b
    Examples:
      aegis answer q3f9a1c yes
      aegis answer q3f9a1c 'Use PostgreSQL 16, not 15'
    """
    from aegis.questions import QuestionError

    project = locate_project(ctx)
    body = read_text_argument(text, "the answer")

    async def main() -> int:
        settled = await _either(
            ctx,
            project.state_dir,
            lambda client: client.answer_question(question_id, body),
            lambda store: store.answer(question_id, body),
        )
        if settled.note:
            click.secho(f"{settled.id} answered: {settled.answer}; {settled.note}", err=True)
        else:
            click.secho(
                f"{settled.id} answered: {settled.answer} (sent to {settled.asker})",
                dim=True,
                err=True,
            )
        return 0

    try:
        status = run_client(main)  # the daemon's refusals are said by run_client
    except QuestionError as exc:
        raise CliError(exc.message, hint=exc.hint) from None
    ctx.exit(status)
