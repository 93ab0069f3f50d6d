"""MCP tools that put a person in the loop: a built-in plugin, like ``mcp_tools``.

``aegis_ask_human`` keeps the agent's question (see :mod:`aegis.questions`) and
returns at once with its id: an agent's turn must not hang on a person who may
answer in an hour. The answer comes later, as a message in the agent's inbox
(sender ``user``), and so does the news that the question expired unanswered.
The asker is the caller's handle, from its token (:class:`~aegis.mcp.ToolContext`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from aegis.hookspecs import hookimpl
from aegis.mcp.context import ToolContext, ToolError


class QuestionAsked(BaseModel):
    """A question kept for a person."""

    id: str = Field(description="The question's id, as the answer will name it.")
    detail: str


async def aegis_ask_human(
    ctx: ToolContext,
    question: Annotated[
        str,
        Field(
            description="The question, complete in itself: the person answering has not "
            "read your conversation."
        ),
    ],
    options: Annotated[
        list[str] | None,
        Field(description="When the answer must be one of a few choices, e.g. ['yes', 'no']."),
    ] = None,
    timeout: Annotated[
        float | None,
        Field(
            description="Seconds to wait for an answer; after that you are told it expired. "
            "Default: no limit."
        ),
    ] = None,
) -> QuestionAsked:
    """Ask the person running aegis a question: a decision, a missing fact, an approval.

    Returns at once with the question's id. The answer reaches you later as a message
    in your inbox ("A person answered your question <id>..."), as does the news that it
    expired. Meanwhile, go on with the work that does not depend on the answer, or end
    your turn."""
    from aegis.questions import QuestionError

    if ctx.questions is None:
        raise ToolError("questions to a person are not available here")
    try:
        asked = await ctx.questions.ask(ctx.sender, question, options=options, timeout=timeout)
    except QuestionError as exc:
        raise ToolError(str(exc)) from None
    choices = f" (one of: {', '.join(asked.options)})" if asked.options else ""
    limit = f"; it expires after {timeout:g}s" if timeout is not None else ""
    return QuestionAsked(
        id=asked.id,
        detail=f"asked; the answer{choices} will arrive in your inbox as a message about "
        f"question {asked.id}{limit}",
    )


@hookimpl
def register_tools(register: Any) -> None:
    register(aegis_ask_human)
