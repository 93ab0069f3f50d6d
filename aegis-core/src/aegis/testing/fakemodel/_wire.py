"""What every vendor codec provides, plus small helpers they share."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ._types import ModelRequest, Reply, estimate_tokens

JSON = dict[str, Any]


class Parse(Protocol):
    def __call__(self, body: Mapping[str, Any], path: str) -> ModelRequest: ...


class Stream(Protocol):
    def __call__(self, reply: Reply, request: ModelRequest) -> Iterator[bytes]: ...


class Complete(Protocol):
    def __call__(self, reply: Reply, request: ModelRequest) -> JSON: ...


class ErrorBody(Protocol):
    def __call__(self, status: int, message: str) -> JSON: ...


@dataclass(frozen=True)
class Codec:
    """One vendor API: how to read its requests and write its replies."""

    parse: Parse
    stream: Stream
    """SSE events of a streamed reply, one ``bytes`` per event (delays go between them)."""
    complete: Complete
    """The body of a non-streamed reply."""
    error_body: ErrorBody


def sse(data: Mapping[str, Any] | str, event: str | None = None) -> bytes:
    """One server-sent event: an optional ``event:`` line and one ``data:`` line."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def input_tokens(reply: Reply, request: ModelRequest) -> int:
    """Scripted input tokens, or an estimate from the request body's size."""
    if reply.usage.input_tokens is not None:
        return reply.usage.input_tokens
    return estimate_tokens(json.dumps(request.raw))


def output_tokens(reply: Reply) -> int:
    """Scripted output tokens, or an estimate from what the reply says."""
    if reply.usage.output_tokens is not None:
        return reply.usage.output_tokens
    calls = "".join(json.dumps(c.arguments) + c.name for c in reply.tool_calls)
    return estimate_tokens(reply.text + (reply.thinking or "") + calls)


def json_pieces(arguments: Mapping[str, Any], pieces: int = 2) -> list[str]:
    """A tool call's JSON arguments split in pieces, as streaming APIs deliver them."""
    text = json.dumps(arguments, separators=(",", ":"))
    size = max(1, -(-len(text) // pieces))
    return [text[i : i + size] for i in range(0, len(text), size)]


def text_of(content: Any) -> str:
    """Text of a content value that is a string or a list of ``{"type":"text"}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p
        )
    return "" if content is None else json.dumps(content)
