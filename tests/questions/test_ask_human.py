"""Questions to a person, in one in-process runtime: a workflow waits for its answer (the
first one wins, an option is checked), gives up at its timeout with a WorkflowError, and
an agent (the offline scripted agent, a real ACP process) asks through its MCP tool and
gets the answer, or the news of its expiry, in its inbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from aegis.config.loader import load_project
from aegis.questions import (
    AskerGone,
    InvalidQuestion,
    Question,
    QuestionClosed,
    Questions,
    QuestionStatus,
)
from aegis.runtime import Runtime
from aegis.workflow.runner import RunRecord, RunStatus
from tests.support import transcripts
from tests.support.waiting import until

pytestmark = pytest.mark.anyio

POLL = 0.02

CONFIG = """
from aegis.builtins.scripted import Scripted, ScriptedToolCall, ScriptRule
from aegis.config import Agent
from aegis.workflow import workflow


def ask(match, **arguments):
    return ScriptRule(
        match=match,
        tool_calls=(ScriptedToolCall(tool="mcp:aegis/aegis_ask_human", input=arguments),),
        reply="the tool said: {output}",
    )


agents = {
    "asker": Agent(provider=Scripted(rules=[
        ask("^which database", question="Which database?", options=["SQLite", "PostgreSQL"]),
        ask("^in a hurry", question="Deploy on Friday?", timeout=0.3),
    ])),
}
default_agent = "asker"


@workflow
async def decide(engine, timeout: float = 0) -> str:
    answer = await engine.ask_human("Ship it?", options=["yes", "no"], timeout=timeout or None)
    follow = await engine.ask_human("Any last words?")
    return f"{answer}; {follow}"


@workflow
async def quick(engine) -> str:
    return "done"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".aegis.py").write_text(CONFIG)
    return tmp_path


def runtime_of(root: Path) -> Runtime:
    runtime = Runtime(load_project([root]))
    runtime.inbox.poll_interval = runtime.questions.poll_interval = POLL
    return runtime


async def pending(runtime: Runtime, count: int) -> list[Question]:
    found: list[Question] = []

    async def enough() -> bool:
        found[:] = await runtime.questions.list_questions()
        return len(found) >= count

    await until(enough, what=f"{count} pending question(s)")
    return found


async def test_a_workflow_waits_for_the_answer_and_the_first_answer_wins(project: Path) -> None:
    records: list[RunRecord] = []
    async with runtime_of(project) as runtime, anyio.create_task_group() as tg:

        async def run() -> None:
            records.append(await runtime.workflows.run("decide"))

        tg.start_soon(run)
        (first,) = await pending(runtime, 1)
        assert first.question == "Ship it?" and first.options == ["yes", "no"]
        assert first.asker == f"workflow:{first.run_id}" and first.note is None

        # A person is told (desktop, webhook, plugins: the notifier's channels), once the
        # question is kept (the store may show it a moment before).
        async def notified() -> bool:
            return any(n.kind == "question_asked" for n in runtime.notifier.recent)

        await until(notified, what="the notification")
        (told,) = [n for n in runtime.notifier.recent if n.kind == "question_asked"]
        assert (told.question_id, told.run_id, told.session) == (first.id, first.run_id, None)
        assert told.title == f"{first.asker} asks: Ship it?"
        assert f"aegis answer {first.id} TEXT" in told.body
        with pytest.raises(InvalidQuestion, match="answer one of 'yes', 'no'"):
            await runtime.questions.answer(first.id, "maybe")
        answered = await runtime.questions.answer(first.id, " YES ", by="client:test")
        assert (answered.answer, answered.answered_by) == ("yes", "client:test")
        with pytest.raises(QuestionClosed, match="answered already, by client:test: 'yes'"):
            await runtime.questions.answer(first.id, "no")
        # The run goes on to its second question; free text this time.
        await until(lambda: _has_question(runtime, "Any last words?"), what="the second question")
        (second,) = await runtime.questions.list_questions()
        await runtime.questions.answer(second.id, "ship it \udcff")
        # A frontend's long poll with a version of an earlier daemon answers at once.
        with anyio.fail_after(10):
            now = await runtime.questions.changed(runtime.questions.version + 100, timeout=60)
        assert now == runtime.questions.version
    (record,) = records
    assert record.status is RunStatus.ok, record.error
    assert record.result == "yes; ship it \ufffd"  # a stray surrogate is made safe
    lines = [line for _, line in record.log]
    assert f"asked a person ({first.id}): Ship it?" in lines
    assert f"{first.id} answered by client:test: yes" in lines
    everything = {q.id: q for q in await _all(project)}
    assert everything[first.id].status is QuestionStatus.answered


async def test_an_answer_nobody_would_read_is_refused(project: Path) -> None:
    async with runtime_of(project) as runtime:
        ended = await runtime.workflows.run("quick")
        # A question left pending by a run that has ended for good (as a run killed while
        # it asked, then resumed and finished without asking again, leaves one).
        stray = await runtime.questions.ask(f"workflow:{ended.id}", "Still there?")
        (listed,) = await runtime.questions.list_questions()
        with pytest.raises(AskerGone) as refused:
            await runtime.questions.answer(stray.id, "yes")
        unknown = await runtime.questions.ask("workflow:no-such-run", "Anyone?")
        with pytest.raises(AskerGone, match="run no-such-run that asked it is unknown here"):
            await runtime.questions.answer(unknown.id, "yes")
    assert ended.status is RunStatus.ok
    gone = f"run {ended.id} is no longer running (ok); nothing waits for this answer"
    assert (listed.note, listed.answerable) == (gone, False)
    assert refused.value.message == gone
    assert refused.value.hint is not None and "aegis workflow run quick" in refused.value.hint


async def _has_question(runtime: Runtime, text: str) -> bool:
    return any(q.question == text for q in await runtime.questions.list_questions())


async def _all(root: Path) -> list[Question]:
    async with Questions(root / ".aegis", watch=False) as questions:
        return await questions.list_questions(pending_only=False)


async def test_no_answer_in_time_fails_the_run_with_a_workflow_error(project: Path) -> None:
    async with runtime_of(project) as runtime:
        record = await runtime.workflows.run("decide", {"timeout": "0.2"})
        (question,) = await runtime.questions.list_questions(pending_only=False)
        with pytest.raises(QuestionClosed) as closed:
            await runtime.questions.answer(question.id, "yes")
    assert record.status is RunStatus.failed
    assert record.error == f"question {question.id} got no answer within 0.2s: Ship it?"
    assert question.status is QuestionStatus.expired
    assert str(closed.value) == (
        f"question {question.id} is expired (nobody answered it within its timeout): it takes"
        f" no answer; `aegis workflow resume {record.id}` (a failed or crashed run) asks it anew"
    )


async def test_a_cancelled_run_cancels_its_question(project: Path) -> None:
    async with runtime_of(project) as runtime, anyio.create_task_group() as tg:
        records: list[RunRecord] = []

        async def run() -> None:
            records.append(await runtime.workflows.run("decide"))

        tg.start_soon(run)
        (question,) = await pending(runtime, 1)
        assert question.run_id is not None and runtime.workflows.cancel(question.run_id)
        await until(lambda: _no_pending(runtime), what="the question cancelled")
    assert records[0].status is RunStatus.failed and records[0].error == "cancelled"
    (settled,) = await _all(project)
    assert settled.status is QuestionStatus.cancelled


async def _no_pending(runtime: Runtime) -> bool:
    return not await runtime.questions.list_questions()


async def _messages(runtime: Runtime, handle: str) -> list[dict[str, Any]]:
    records = await transcripts.records(runtime.sessions, handle)
    return [r for r in records if r["type"] == "user_message"]


async def test_an_agent_asks_through_its_tool_and_gets_the_answer_in_its_inbox(
    project: Path,
) -> None:
    async with runtime_of(project) as runtime:
        sessions = runtime.sessions
        handle = await sessions.spawn("asker")
        asked = await sessions.request(handle, "which database shall I use?")
        # The tool answered at once, with the question's id.
        assert asked.ok and '"id": "q' in (asked.text or ""), asked.text
        (question,) = await runtime.questions.list_questions()
        assert question.id in (asked.text or "")
        assert (question.asker, question.options) == (f"agent:{handle}", ["SQLite", "PostgreSQL"])
        (told,) = [n for n in runtime.notifier.recent if n.kind == "question_asked"]
        assert (told.question_id, told.session) == (question.id, handle)
        await runtime.questions.answer(question.id, "postgresql")
        await until(lambda: _inbox_has(runtime, handle, 2), what="the answer in the inbox")

        # A question with a timeout: nobody answers, the agent is told it expired.
        hurried = await sessions.request(handle, "in a hurry: deploy?")
        assert hurried.ok
        await until(lambda: _inbox_has(runtime, handle, 4), what="the expiry in the inbox")

        # Answered by another process (`aegis --no-daemon answer`): the answer waits in
        # the project's inbox database until the runtime where the agent lives hands it on.
        assert (await sessions.request(handle, "which database, again?")).ok
        (again,) = await runtime.questions.list_questions()
        async with Questions(project / ".aegis", watch=False) as elsewhere:
            await elsewhere.answer(again.id, "sqlite")
        await until(lambda: _inbox_has(runtime, handle, 6), what="the other answer in the inbox")
        await sessions.drain(handle, timeout=10)
        messages = await _messages(runtime, handle)
    answer, expiry, other = messages[1], messages[3], messages[5]
    assert other["sender"] == "user" and other["text"].endswith("Answer: SQLite")
    assert answer["sender"] == "user"
    assert answer["text"] == (
        f"A person answered your question {question.id} (asked with aegis_ask_human).\n"
        "Question: Which database?\nAnswer: PostgreSQL"
    )
    assert expiry["sender"].startswith("question:q")
    assert "got no answer within 0.3s and has expired" in expiry["text"]
    assert "Question: Deploy on Friday?" in expiry["text"]


async def _inbox_has(runtime: Runtime, handle: str, count: int) -> bool:
    return len(await _messages(runtime, handle)) >= count


async def test_a_run_asking_again_under_its_id_gets_the_answer_given_before(
    project: Path,
) -> None:
    # What a resumed run does: the workflow runs again from the start under the same run
    # id. A question answered in the first attempt is not asked twice; one that was not
    # answered is asked anew.
    async with runtime_of(project) as runtime, anyio.create_task_group() as tg:
        records: list[RunRecord] = []

        async def run() -> None:
            records.append(await runtime.workflows.run("decide", run_id="the-run"))

        tg.start_soon(run)
        (ship,) = await pending(runtime, 1)
        await runtime.questions.answer(ship.id, "no")
        await until(lambda: _has_question(runtime, "Any last words?"), what="the second question")
        assert runtime.workflows.cancel("the-run")

        async def ended() -> bool:
            return len(records) == 1

        await until(ended, what="the first attempt's end")
        assert records[0].status is RunStatus.failed

        tg.start_soon(run)
        (words,) = await pending(runtime, 1)
        assert words.question == "Any last words?" and words.id != ship.id
        await runtime.questions.answer(words.id, "none")
    assert records[-1].status is RunStatus.ok and records[-1].result == "no; none"
    assert f"{ship.id} asked before this attempt: Ship it?" in [m for _, m in records[-1].log]
    asked = [(q.question, q.status.value) for q in await _all(project)]
    assert asked == [
        ("Ship it?", "answered"),
        ("Any last words?", "cancelled"),
        ("Any last words?", "answered"),
    ]
