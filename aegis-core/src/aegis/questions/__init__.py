"""Questions from workflows and agents to a person: kept on disk, answered once.

* :class:`Question` (:mod:`aegis.questions.record`): one question, its options and answer;
* :class:`QuestionStore` (:mod:`aegis.questions.store`): ``.aegis/questions.db``;
* :class:`Questions` (:mod:`aegis.questions.service`): ``Runtime.questions``, which asks,
  lists, answers, waits, expires and tells agents.
"""

from aegis.questions.record import Question, QuestionStatus, match_option
from aegis.questions.service import (
    AskerGone,
    InvalidQuestion,
    QuestionClosed,
    QuestionError,
    Questions,
    UnknownQuestion,
    question_notification,
)
from aegis.questions.store import DB_NAME, QuestionStore

__all__ = [
    "DB_NAME",
    "AskerGone",
    "InvalidQuestion",
    "Question",
    "QuestionClosed",
    "QuestionError",
    "QuestionStatus",
    "QuestionStore",
    "Questions",
    "UnknownQuestion",
    "match_option",
    "question_notification",
]
