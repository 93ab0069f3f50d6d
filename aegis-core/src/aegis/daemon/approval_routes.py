"""The protocol's routes for approvals (``/v1/approvals``): permission requests that
wait for a person.

Every client sees a request as a ``permission_request`` event in its session's event
stream; these routes list the requests still waiting (across sessions) and answer
one. The first answer wins: a later one is told the answer that holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aegis.daemon.routes import ApiError, _body, _client, _endpoint, _ok
from aegis.events import to_dict

if TYPE_CHECKING:
    from aegis.daemon.service import Daemon


def api_error(error: Exception) -> ApiError | None:
    """The protocol's error for an approval's exception, if it is one."""
    from aegis.approvals import BadDecision, UnknownApproval

    if isinstance(error, UnknownApproval):
        return ApiError(
            404, "unknown_approval", str(error), "`aegis approvals` (GET /v1/approvals) lists them"
        )
    if isinstance(error, BadDecision):
        return ApiError(400, "bad_request", str(error))
    return None


async def list_approvals(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    session = request.query_params.get("session") or None
    pending = daemon.runtime.approvals.pending(session)
    return _ok({"approvals": [approval.as_dict() for approval in pending]})


async def answer_approval(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    data = await _body(request)
    decision = data.get("decision")
    reason = data.get("reason", "")
    if not isinstance(decision, str) or not isinstance(reason, str):
        raise ApiError(400, "bad_request", "'decision' (and 'reason', if given) must be strings")
    by = f"client:{_client(request)}"
    taken, answer = daemon.runtime.approvals.answer(
        request.path_params["approval_id"], decision, reason, by=by
    )
    return _ok({"taken": taken, "answer": to_dict(answer)})


def routes(prefix: str) -> list[Route]:
    """The approval routes under ``prefix`` (``/v1``)."""
    return [
        Route(f"{prefix}/approvals", _endpoint(list_approvals), methods=["GET"]),
        Route(f"{prefix}/approvals/{{approval_id}}", _endpoint(answer_approval), methods=["POST"]),
    ]
