"""What waits for a person: permission requests of sessions, and questions of agents and
workflow runs, described in a line for the tab's prompt, the transcript and the list.

See ``docs/approvals.md``: a request is a ``permission_request`` event in its session's
stream, answered ``allow_once``, ``allow_session`` or ``deny`` (with a reason the agent
is told); a question is listed by ``GET /v1/questions`` and answered with text.
"""

from __future__ import annotations

from typing import Any

from aegis.events import PermissionAnswer, PermissionRequest
from aegis_tui import formatting

NEEDS_YOU = "⚑ needs you"
"""The mark of a tab whose session waits for a person's answer."""

DECISIONS = {
    "allow_once": "allowed once",
    "allow_session": "allowed for the rest of the session",
    "deny": "denied",
}
"""How each answer reads in the transcript."""


def what_it_asks(request: PermissionRequest, width: int = 200) -> str:
    """The call a request is about, in a line: the tool and its command, path or title."""
    command = request.input.get("command")
    if isinstance(command, str) and command:
        detail = command
    elif request.paths:
        detail = ", ".join(request.paths)
    else:
        detail = request.title or formatting.one_line(str(request.input), width)
    return formatting.one_line(f"{request.name}: {detail}", width)


def request_line(request: PermissionRequest) -> str:
    """The transcript's line for a request."""
    rule = f" (rule {request.rule})" if request.rule else ""
    return f"⚑ a person is asked: may it run {what_it_asks(request)}?{rule}"


def answer_line(answer: PermissionAnswer) -> str:
    """The transcript's line for the answer to a request."""
    said = DECISIONS.get(answer.decision, answer.decision)
    reason = f": {answer.reason}" if answer.reason else ""
    return f"{'✓' if answer.allowed else '✖'} {said} by {answer.by}{reason}"


def listed_request(item: dict[str, Any]) -> PermissionRequest | None:
    """The request of an item of ``GET /v1/approvals`` (``None``: not one this TUI reads)."""
    from aegis.events import from_dict

    try:
        request = from_dict(item["request"])
    except (KeyError, TypeError, ValueError):
        return None
    return request if isinstance(request, PermissionRequest) else None
