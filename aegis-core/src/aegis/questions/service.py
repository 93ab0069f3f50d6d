"""The runtime's questions to a person: asked by workflows and agents, answered by people.

:class:`Questions` is ``Runtime.questions``. A workflow asks through
:meth:`WorkflowEngine.ask_human <aegis.workflow.WorkflowEngine.ask_human>` and waits
for the answer; an agent asks through the ``aegis_ask_human`` MCP tool and goes on
at once: the answer (or the news that its question expired) reaches it later as a
message in its inbox, through the :class:`~aegis.inbox.InboxRouter`, keyed so that
it arrives once. A person lists and answers them with ``aegis questions``, ``aegis
answer``, the TUI, or the protocol (``GET /v1/questions``, ``POST /v1/questions/ID``).

Everything is in the question store (:mod:`aegis.questions.store`), so the runtime
that answers need not be the one that asked: a workflow run of ``aegis --no-daemon
workflow run`` sees an answer given through the daemon at its next look (every
``poll_interval``). A question whose workflow run is not running (its process was
killed) stays listed, with a note saying so: an answer to it is kept, and the run
gets it when it is resumed (``aegis workflow resume``; see
:meth:`Questions.ask_again`). An answer to a question of a run that has ended for
good (``ok``, or unknown) is refused: nobody would read it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from aegis.lifespan import Lifespan
from aegis.mcp.context import MAX_TEXT_BYTES
from aegis.questions.record import Question, QuestionStatus, match_option
from aegis.questions.store import KEEP_CLOSED_S, QuestionStore
from aegis.text import clean_text

if TYPE_CHECKING:
    from aegis.inbox import InboxRouter
    from aegis.notify import Notification
    from aegis.workflow.runner import WorkflowRunner

log = logging.getLogger("aegis.questions")

PERSON = "user"
"""Who answers, unless a client says otherwise; the sender of an answer in an agent's inbox."""


class QuestionError(Exception):
    """A question could not be asked or answered; ``hint`` says what would work."""

    code = "question"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UnknownQuestion(QuestionError, LookupError):
    """No question has that id in this project."""

    code = "unknown_question"


class QuestionClosed(QuestionError):
    """The question was answered, expired or cancelled already: the first answer won."""

    code = "question_closed"


class InvalidQuestion(QuestionError, ValueError):
    """A question, its options, its timeout or an answer that cannot be taken as given."""

    code = "invalid"


class AskerGone(QuestionError):
    """Nobody would read the answer: the workflow run that asked has ended for good."""

    code = "asker_gone"


@dataclass(frozen=True)
class AskerState:
    """Why the asker of a question does not wait for its answer now."""

    note: str
    """Said beside the question when it is listed (and when it is answered)."""
    hint: str | None
    refuse: bool
    """Whether an answer is refused (nobody would ever read it), or kept for a resume."""


def _check_text(what: str, text: str) -> str:
    text = clean_text(text).strip()
    if not text:
        raise InvalidQuestion(f"{what} is empty")
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TEXT_BYTES:
        raise InvalidQuestion(
            f"{what} is {size} bytes; the limit is {MAX_TEXT_BYTES // 1024} KiB",
            hint="put long material in a file of the project and name the file",
        )
    return text


def _check_options(options: Sequence[str] | None) -> list[str] | None:
    if options is None:
        return None
    if isinstance(options, str):
        raise InvalidQuestion("options is one string: give a list of strings")
    checked = [_check_text("an option", option) for option in options]
    if not checked:
        raise InvalidQuestion("options is an empty list: give none, or at least one")
    folded = [option.casefold() for option in checked]
    if len(set(folded)) != len(folded):
        raise InvalidQuestion(f"options repeat one another: {', '.join(checked)}")
    return checked


def _check_timeout(timeout: float | None) -> float | None:
    if timeout is None:
        return None
    if not (timeout > 0 and math.isfinite(timeout)):
        raise InvalidQuestion(f"timeout {timeout!r}: give a number of seconds above 0, or none")
    return float(timeout)


def answer_message(question: Question) -> str:
    """What an agent's inbox receives when its question is answered."""
    return (
        f"A person answered your question {question.id} (asked with aegis_ask_human).\n"
        f"Question: {question.question}\n"
        f"Answer: {question.answer}"
    )


def expiry_message(question: Question) -> str:
    """What an agent's inbox receives when its question expires unanswered."""
    waited = (question.deadline or question.asked_at) - question.asked_at
    return (
        f"Your question {question.id} (asked with aegis_ask_human) got no answer within "
        f"{waited:g}s and has expired: no answer will come.\n"
        f"Question: {question.question}\n"
        "Go on without it (say what you assumed), or ask again if it still matters."
    )


def question_notification(question: Question) -> Notification:
    """The notification of a new question (kind ``question_asked``), saying how to answer."""
    from aegis.notify import Notification

    choices = f" [{' / '.join(question.options)}]" if question.options else ""
    return Notification(
        kind="question_asked",
        title=f"{question.asker} asks: {_first_line(question.question)}",
        body=f"{question.question}{choices}\n\nAnswer with: aegis answer {question.id} TEXT",
        session=question.handle,
        run_id=question.run_id,
        question_id=question.id,
    )


def _first_line(text: str, limit: int = 80) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "\u2026"


class Questions(Lifespan):
    """The questions of one project's runtime: ask, list, answer, wait.

    Use it in an ``async with`` block (the runtime does): it opens the store and
    watches it, expiring questions whose deadline passed and telling agents what
    became of theirs.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        inbox: InboxRouter | None = None,
        workflows: WorkflowRunner | None = None,
        on_asked: Callable[[Question], None] | None = None,
        poll_interval: float = 1.0,
        watch: bool = True,
    ) -> None:
        """``inbox``: how agents are told (without one, a message waits in the project's
        inbox database for the runtime where the agent lives). ``workflows``: the runner
        whose runs are alive here. ``on_asked``: called with each new question (the
        runtime's notifier); it must not block. ``watch``: expire and tell in the
        background (a command that only answers one question needs not)."""
        self.state_dir = state_dir
        self.inbox = inbox
        self.workflows = workflows
        self.on_asked = on_asked
        self.poll_interval = poll_interval
        self.watch = watch
        self.version = 0
        """Goes up whenever a question is asked or settled (see :meth:`changed`)."""
        self._store: QuestionStore | None = None
        self._changed = anyio.Event()
        self._fingerprint: tuple[int, float] | None = None

    # --- lifetime -----------------------------------------------------------------------

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        self._store = await anyio.to_thread.run_sync(QuestionStore.for_state_dir, self.state_dir)
        try:
            await anyio.to_thread.run_sync(self._store.prune, time.time() - KEEP_CLOSED_S)
            async with anyio.create_task_group() as tg:
                if self.watch:
                    tg.start_soon(self._watch)
                try:
                    yield
                finally:
                    tg.cancel_scope.cancel()
        finally:
            store, self._store = self._store, None
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(store.close)

    def _require_store(self) -> QuestionStore:
        if self._store is None:
            raise RuntimeError("use Questions in an `async with` block")
        return self._store

    def _bump(self) -> None:
        self.version += 1
        self._changed.set()
        self._changed = anyio.Event()

    # --- asking -------------------------------------------------------------------------

    async def ask(
        self,
        asker: str,
        question: str,
        *,
        options: Sequence[str] | None = None,
        timeout: float | None = None,
        seq: int = 0,
    ) -> Question:
        """Keep a new question from ``asker`` (``workflow:<run>``, ``agent:<handle>``) and
        return it with its id. Raises :class:`InvalidQuestion`."""
        text = _check_text("the question", question)
        choices = _check_options(options)
        seconds = _check_timeout(timeout)
        store = self._require_store()
        asked = await anyio.to_thread.run_sync(
            lambda: store.add(asker, text, options=choices, timeout=seconds, seq=seq)
        )
        self._bump()
        log.info("%s asks %s: %s", asker, asked.id, text)
        if self.on_asked is not None:
            try:
                self.on_asked(asked)
            except Exception:  # telling people is a courtesy: the question stands
                log.exception("could not announce question %s", asked.id)
        return asked

    async def ask_again(
        self,
        asker: str,
        question: str,
        *,
        options: Sequence[str] | None = None,
        timeout: float | None = None,
        seq: int = 0,
        taken: Collection[str] = (),
    ) -> Question:
        """:meth:`ask`, unless ``asker`` asked this very question (same text, same options)
        before and it is pending or answered: then the oldest such question not in ``taken``.

        What a resumed workflow run does: it runs again from the start, and its questions
        asked before get the answers given meanwhile, in order (or wait for them), instead
        of being asked twice. ``taken``: the ids this attempt of the run has had already.
        """
        text = _check_text("the question", question)
        choices = _check_options(options)
        store = self._require_store()
        before = await anyio.to_thread.run_sync(store.asked_before, asker, text, choices)
        for earlier in before:
            if earlier.id not in taken:
                return earlier
        return await self.ask(asker, text, options=choices, timeout=timeout, seq=seq)

    # --- looking ------------------------------------------------------------------------

    async def get(self, question_id: str) -> Question:
        """Question ``question_id`` as it is now. Raises :class:`UnknownQuestion`."""
        store = self._require_store()
        found = await anyio.to_thread.run_sync(store.get, question_id)
        if found is None:
            raise UnknownQuestion(
                f"no question {question_id!r} in this project",
                hint="`aegis questions --all` lists them",
            )
        return found

    async def list_questions(self, *, pending_only: bool = True) -> list[Question]:
        """The pending questions, oldest first (``pending_only=False``: the latest ones,
        settled too). A pending one whose asker is gone carries a ``note`` saying so."""
        store = self._require_store()
        found = await anyio.to_thread.run_sync(
            lambda: store.list_questions(pending_only=pending_only)
        )
        for question in found:
            if question.status is QuestionStatus.pending:
                state = await self._asker_state(question)
                if state is not None:
                    question.note, question.answerable = state.note, not state.refuse
        return found

    async def changed(self, version: int, timeout: float) -> int:
        """Wait (at most ``timeout`` seconds) until :attr:`version` is past ``version``;
        return it. What a frontend long-polls to redraw its list."""
        if version > self.version:
            return self.version  # a version of an earlier daemon: the list is news anyway
        with anyio.move_on_after(timeout):
            while self.version <= version:
                await self._changed.wait()
        return self.version

    # --- answering ----------------------------------------------------------------------

    async def answer(self, question_id: str, text: str, *, by: str = PERSON) -> Question:
        """Answer question ``question_id`` with ``text``, as ``by``; return it answered.

        With options, ``text`` must name one of them (case does not matter; the
        answer is the option as spelled). The first answer wins: a later one raises
        :class:`QuestionClosed`. An answer nobody would read (the asking workflow run
        has ended for good) raises :class:`AskerGone`; one to a run that is not running
        but can be resumed is kept for it (the answered question's ``note`` says so).
        An agent's answer is sent to its inbox.
        """
        question = await self.get(question_id)
        if question.status is not QuestionStatus.pending:
            raise _closed(question)
        answer = _check_text("the answer", text)
        if question.options is not None:
            chosen = match_option(answer, question.options)
            if chosen is None:
                raise InvalidQuestion(
                    f"{answer!r} is not an answer to question {question_id}: answer one of "
                    + ", ".join(repr(option) for option in question.options)
                )
            answer = chosen
        state = await self._asker_state(question)
        if state is not None and state.refuse:
            raise AskerGone(state.note, hint=state.hint)
        store = self._require_store()
        settled, won = await anyio.to_thread.run_sync(
            lambda: store.settle(question_id, QuestionStatus.answered, answer=answer, by=by)
        )
        assert settled is not None
        if not won:
            raise _closed(settled)
        self._bump()
        log.info("%s answered %s: %s", by, question_id, answer)
        if settled.handle is not None:
            await self._tell(settled)
        if state is not None:
            settled.note = state.note
        return settled

    async def _asker_state(self, question: Question) -> AskerState | None:
        """Whether anybody waits for ``question``'s answer (``None``: its asker does now)."""
        run_id = question.run_id
        if run_id is None:
            return None  # an agent's answer waits in its inbox until it runs again
        if self.workflows is not None and run_id in self.workflows.running:
            return None
        from aegis.workflow.runner import RunStatus, load_run

        record = await anyio.to_thread.run_sync(load_run, self.state_dir, run_id)
        if record is None:
            return AskerState(
                f"run {run_id} that asked it is unknown here; nothing waits for this answer",
                hint="`aegis workflow runs` lists the runs",
                refuse=True,
            )
        if record.status is RunStatus.running and not record.interrupted:
            return None  # it runs in another aegis process of the project
        if record.resumable:
            why = "stopped with its aegis" if record.interrupted else record.status.value
            if record.error and not record.interrupted:
                why += f": {record.error}"
            return AskerState(
                f"run {run_id} is not running ({why}); an answer is kept for it: "
                f"`aegis workflow resume {run_id}` resumes it, and it gets the answer",
                hint=None,
                refuse=False,
            )
        return AskerState(
            f"run {run_id} is no longer running ({record.status.value}); "
            "nothing waits for this answer",
            hint=f"run the workflow again (`aegis workflow run {record.workflow}`): "
            "it asks its question anew",
            refuse=True,
        )

    # --- waiting ------------------------------------------------------------------------

    async def wait(self, question_id: str) -> Question:
        """Wait until question ``question_id`` is settled (answered, expired, cancelled)
        and return it; it expires at its deadline."""
        while True:
            question = await self.get(question_id)
            if question.status is not QuestionStatus.pending:
                return question
            wait = self.poll_interval  # an answer given by another process is seen this late
            if question.deadline is not None:
                left = question.deadline - time.time()
                if left <= 0:
                    return await self.settle(question_id, QuestionStatus.expired)
                wait = min(wait, left)
            changed = self._changed
            with anyio.move_on_after(wait):
                await changed.wait()

    async def settle(self, question_id: str, status: QuestionStatus) -> Question:
        """End pending question ``question_id`` as ``expired`` or ``cancelled`` (a settled
        one is left as it is); return it as it is then."""
        store = self._require_store()
        settled, won = await anyio.to_thread.run_sync(lambda: store.settle(question_id, status))
        if settled is None:
            raise UnknownQuestion(f"no question {question_id!r} in this project")
        if won:
            self._bump()
            log.info("question %s %s", question_id, status.value)
            if settled.handle is not None and status is QuestionStatus.expired:
                await self._tell(settled)
        return settled

    # --- telling agents -----------------------------------------------------------------

    async def _tell(self, question: Question) -> None:
        """Send an agent what became of its question (once: the message is keyed)."""
        handle = question.handle
        assert handle is not None
        if question.status is QuestionStatus.answered:
            text, sender = answer_message(question), question.answered_by or PERSON
        else:
            text, sender = expiry_message(question), f"question:{question.id}"
        key = f"question:{question.id}"
        try:
            if self.inbox is not None:
                await self.inbox.deliver(handle, text, sender, key=key)
            else:
                await anyio.to_thread.run_sync(
                    _keep_in_inbox, self.state_dir, handle, text, sender, key
                )
        except Exception as exc:  # an unknown session, a refused message: said, not retried
            log.warning("could not tell %s about question %s: %s", handle, question.id, exc)
        store = self._require_store()
        await anyio.to_thread.run_sync(store.told, question.id)

    async def _watch(self) -> None:
        store = self._require_store()
        while True:
            try:
                await self._look(store)
            except Exception:  # a broken store must not end the watch
                log.exception("could not look at the questions")
            await anyio.sleep(self.poll_interval)

    async def _look(self, store: QuestionStore) -> None:
        for due in await anyio.to_thread.run_sync(store.due, time.time()):
            await self.settle(due.id, QuestionStatus.expired)
        for untold in await anyio.to_thread.run_sync(store.untold):
            await self._tell(untold)
        fingerprint = await anyio.to_thread.run_sync(store.fingerprint)
        if self._fingerprint is not None and fingerprint != self._fingerprint:
            self._bump()  # another process asked or answered: waiters look again
        self._fingerprint = fingerprint


def _closed(question: Question) -> QuestionClosed:
    if question.status is QuestionStatus.answered:
        return QuestionClosed(
            f"question {question.id} was answered already, by {question.answered_by}: "
            f"{question.answer!r} (the first answer wins)"
        )
    why = {
        QuestionStatus.expired: "nobody answered it within its timeout",
        QuestionStatus.cancelled: "its asker ended or was cancelled first",
    }.get(question.status)
    text = f"question {question.id} is {question.status.value}"
    text += f" ({why})" if why else ""
    text += ": it takes no answer"
    if question.run_id is not None:
        resume = f"aegis workflow resume {question.run_id}"
        text += f"; `{resume}` (a failed or crashed run) asks it anew"
    return QuestionClosed(text)


def _keep_in_inbox(state_dir: Path, handle: str, text: str, sender: str, key: str) -> None:
    """Leave a message for ``handle`` in the project's inbox database, for the runtime
    where the agent lives to hand over (without a router of our own)."""
    from aegis.inbox import DB_NAME, InboxStore

    inbox = InboxStore(state_dir / DB_NAME)
    try:
        inbox.add(handle, sender, clean_text(text), key)
    finally:
        inbox.close()
