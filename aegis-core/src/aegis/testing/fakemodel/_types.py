"""The wire-independent vocabulary of the fake model: what was asked, and what to answer."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Api = Literal["anthropic", "gemini", "openai"]

_ids = itertools.count(1)


def _new_call_id() -> str:
    # A counter keeps ids readable in logs; the uuid part keeps them unique across servers
    # (a CLI may keep a session history across two fake servers in one test).
    return f"call_{next(_ids)}_{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class ToolResult:
    """The outcome of one tool call, as the CLI reports it back to the model."""

    tool_id: str
    """The id of the call this answers (for gemini: the id we gave, or the CLI's own)."""
    name: str | None
    """The tool's name when the wire carries it or the history lets us find it."""
    output: str
    """The output as text (structured outputs are JSON-encoded)."""
    is_error: bool = False


@dataclass(frozen=True)
class ModelRequest:
    """One model request, normalised from whichever vendor API it arrived on."""

    api: Api
    user_text: str
    """Text of the last message if the user sent it; empty when it only carries tool results."""
    tool_results: tuple[ToolResult, ...]
    """Tool results carried by the last message(s) after the model's last turn."""
    tools: tuple[str, ...]
    """Names of the tools offered to the model, in the order offered."""
    system: str
    """The system prompt, all parts joined by newlines."""
    model: str
    raw: Mapping[str, Any]
    """The request body as JSON."""
    path: str = ""
    """The HTTP path (with query) the request came on."""
    prompts: tuple[str, ...] = ()
    """Every user-typed text in the history, oldest first (so a test can check memory)."""
    tool_schemas: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Each offered tool's JSON schema of arguments, by name."""
    stream: bool = True

    @property
    def has_tool_results(self) -> bool:
        """Whether the last message answers tool calls."""
        return bool(self.tool_results)


@dataclass(frozen=True)
class Usage:
    """Token counts to report; ``None`` means estimate from the text (about 4 chars a token)."""

    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True)
class ToolCall:
    """A tool call the fake model asks for."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=_new_call_id)


@dataclass(frozen=True)
class Reply:
    """What the fake model answers to one request.

    ``text`` is streamed in several chunks, then each tool call. With ``error_status`` the
    server answers with that HTTP status and the vendor's JSON error body instead.
    """

    text: str = ""
    tool_calls: tuple[ToolCall, ...] | list[ToolCall] = ()
    thinking: str | None = None
    delay: float = 0.0
    """Seconds to wait before the first byte (slow turns, interrupt tests)."""
    chunk_delay: float = 0.0
    """Seconds to wait between streamed chunks."""
    error_status: int | None = None
    error_message: str = "scripted error from the fake model"
    usage: Usage = field(default_factory=Usage)
    chunks: int = 3
    """Into how many pieces to split ``text`` (at most; short texts give fewer)."""

    def __post_init__(self) -> None:
        # A tuple keeps the reply hashable-ish and safe to share between threads.
        object.__setattr__(self, "tool_calls", tuple(self.tool_calls))


def estimate_tokens(text: str) -> int:
    """A rough token count, good enough for usage fields: about four characters a token."""
    return max(1, len(text) // 4)


def split_chunks(text: str, pieces: int) -> list[str]:
    """Split ``text`` into at most ``pieces`` non-empty parts, cutting after spaces if possible."""
    if not text:
        return []
    pieces = max(1, min(pieces, len(text)))
    size = -(-len(text) // pieces)
    out: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        # Prefer to cut just after a space so chunks look like real token streams.
        space = text.rfind(" ", start + 1, end)
        if end < len(text) and space > start:
            end = space + 1
        out.append(text[start:end])
        start = end
    return out
