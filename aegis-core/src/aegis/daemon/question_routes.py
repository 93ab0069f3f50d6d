"""The protocol's routes for questions to a person (``/v1/questions``).

``GET /v1/questions`` lists the pending questions (``?all=1``: the latest ones,
settled too), with the runtime's ``version`` of them; ``?version=V&wait=S`` is a
long poll that answers once the list changed past version ``V`` (or after ``S``
seconds), for a frontend that keeps a list on screen. ``POST /v1/questions/ID``
with ``{"answer": "...", "sender": "user"}`` answers one: the first answer wins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aegis.daemon.routes import MAX_WAIT_S, ApiError, _body, _endpoint, _ok, _sender, _text

if TYPE_CHECKING:
    from aegis.daemon.service import Daemon
    from aegis.questions import Question


def api_error(error: Exception) -> ApiError | None:
    """The protocol's error for a question's exception, if it is one."""
    from aegis.questions import (
        AskerGone,
        InvalidQuestion,
        QuestionClosed,
        QuestionError,
        UnknownQuestion,
    )

    if not isinstance(error, QuestionError):
        return None
    status = {UnknownQuestion: 404, QuestionClosed: 409, AskerGone: 409, InvalidQuestion: 400}
    return ApiError(status.get(type(error), 400), error.code, error.message, error.hint)


def question_view(question: Question) -> dict[str, Any]:
    """A question as the protocol shows it."""
    data: dict[str, Any] = question.model_dump(mode="json")
    data["run_id"], data["handle"] = question.run_id, question.handle
    return data


def _number(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ApiError(400, "bad_request", f"{name}={raw!r} is not a number") from None


async def list_questions(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    questions = daemon.runtime.questions
    version, wait = _number(request, "version"), _number(request, "wait")
    if version is not None and wait is not None:
        await questions.changed(int(version), min(wait, MAX_WAIT_S))
    pending_only = request.query_params.get("all", "0") in ("0", "false", "")
    # The version first: a change after this look is one a long poll will see.
    now = questions.version
    found = await questions.list_questions(pending_only=pending_only)
    return _ok({"version": now, "questions": [question_view(q) for q in found]})


async def show_question(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    question = await daemon.runtime.questions.get(request.path_params["question_id"])
    return _ok(question_view(question))


async def answer_question(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    data = await _body(request)
    answer = _text(data, "answer")
    question = await daemon.runtime.questions.answer(
        request.path_params["question_id"], answer, by=_sender(data)
    )
    return _ok(question_view(question))


def routes(prefix: str) -> list[Route]:
    """The routes of questions under ``prefix`` (``/v1``)."""
    q = f"{prefix}/questions"
    return [
        Route(q, _endpoint(list_questions), methods=["GET"]),
        Route(f"{q}/{{question_id}}", _endpoint(show_question), methods=["GET"]),
        Route(f"{q}/{{question_id}}", _endpoint(answer_question), methods=["POST"]),
    ]
