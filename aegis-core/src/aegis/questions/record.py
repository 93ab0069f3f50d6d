"""A question put to a person, as it is kept, listed and served: :class:`Question`.

A question has one asker: a workflow run (``workflow:<run id>``) or an agent
(``agent:<handle>``). It is ``pending`` until the first of these happens: a person
answers it (``answered``), its deadline passes (``expired``), or its asker stops
waiting for it (``cancelled``: the workflow run ended or was cancelled meanwhile).
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, Field


class QuestionStatus(str, Enum):
    """Where a question stands."""

    pending = "pending"
    answered = "answered"
    expired = "expired"
    cancelled = "cancelled"

    def __str__(self) -> str:
        return self.value


class Question(BaseModel):
    """One question to a person, and its answer once it has one."""

    id: str
    """Short and typable: ``q`` and six hexadecimal digits (``aegis answer q3f9a1c yes``)."""
    asker: str
    """``workflow:<run id>`` or ``agent:<handle>``."""
    question: str
    options: list[str] | None = None
    """When given, the answer is one of these (as spelled here)."""
    status: QuestionStatus = QuestionStatus.pending
    asked_at: float
    deadline: float | None = None
    """When it expires (seconds since the epoch); ``None``: it waits for ever."""
    answer: str | None = None
    answered_by: str | None = None
    """Who answered: ``user``, or ``client:<name>`` (the TUI, a script)."""
    answered_at: float | None = None
    seq: int = 0
    """The how-many-th question of its workflow run's attempt this is (1, 2, ...; 0 for an
    agent's)."""
    note: str | None = Field(default=None)
    """For a pending question whose asker does not wait now (its workflow run is not
    running), what becomes of an answer (said when it is listed; not stored)."""
    answerable: bool = True
    """Whether an answer is taken: ``False`` once nobody would ever read it (its run has
    ended for good); see ``note``."""

    @property
    def run_id(self) -> str | None:
        """The asking workflow run's id (``None``: an agent asked)."""
        kind, _, name = self.asker.partition(":")
        return name if kind == "workflow" else None

    @property
    def handle(self) -> str | None:
        """The asking agent's handle (``None``: a workflow asked)."""
        kind, _, name = self.asker.partition(":")
        return name if kind == "agent" else None


def match_option(answer: str, options: list[str]) -> str | None:
    """The option ``answer`` names, as the option is spelled (case and surrounding blanks
    do not matter), or ``None``."""
    wanted = answer.strip().casefold()
    for option in options:
        if option.strip().casefold() == wanted:
            return option
    return None
