"""The canonical event model: what every provider's session says, in one vocabulary.

Drivers translate their harness protocol (Claude Code's stream-json, ACP) into
these events; frontends, transcripts, queues and workflows consume nothing else.
The same event means the same thing whichever CLI produced it.

Events are small frozen dataclasses. :func:`to_dict` and :func:`from_dict` give
their JSON form (a ``"type"`` key plus the fields), which is what transcripts hold.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar, TypeAlias


class ToolKind(str, Enum):
    """What a tool call does, whatever the CLI calls the tool."""

    read = "read"
    edit = "edit"
    execute = "execute"
    search = "search"
    think = "think"
    fetch = "fetch"
    other = "other"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class SessionStarted:
    """The harness session is up and ready for its first message."""

    type: ClassVar[str] = "session_started"
    harness_session_id: str
    model: str | None = None
    tools: tuple[str, ...] = ()
    resumed: bool = False


@dataclass(frozen=True, slots=True)
class UserMessage:
    """A message delivered to the agent, with who sent it.

    ``sender`` is ``"user"``, ``"agent:<handle>"``, ``"queue:<name>"`` or
    ``"workflow:<run id>"``.
    """

    type: ClassVar[str] = "user_message"
    text: str
    sender: str = "user"


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A chunk of assistant text, as it streams."""

    type: ClassVar[str] = "text_delta"
    text: str


@dataclass(frozen=True, slots=True)
class AssistantMessage:
    """The whole text of one assistant message (a turn may hold several)."""

    type: ClassVar[str] = "assistant_message"
    text: str


@dataclass(frozen=True, slots=True)
class Thinking:
    """Reasoning the model shows (a chunk, as it streams)."""

    type: ClassVar[str] = "thinking"
    text: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The agent calls a tool.

    ``kind`` is the semantic kind; ``name`` the CLI's own tool name (``Bash``,
    ``run_shell_command``, ``mcp__aegis__aegis_handoff``); ``paths`` the files it
    touches, when known.
    """

    type: ClassVar[str] = "tool_call"
    id: str
    name: str
    kind: ToolKind = ToolKind.other
    input: dict[str, Any] = field(default_factory=dict)
    paths: tuple[str, ...] = ()
    title: str = ""


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The outcome of a tool call: ``ok`` or an error, and its output."""

    type: ClassVar[str] = "tool_result"
    id: str
    ok: bool
    output: str = ""


@dataclass(frozen=True, slots=True)
class PlanEntry:
    """One step of a plan."""

    content: str
    status: str = "pending"
    """``pending``, ``in_progress`` or ``completed``."""
    priority: str = "medium"


@dataclass(frozen=True, slots=True)
class Plan:
    """The agent's current plan (each event replaces the previous plan)."""

    type: ClassVar[str] = "plan"
    entries: tuple[PlanEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage and cost.

    ``input_tokens`` counts all input, cache reads and writes included;
    ``cache_read_tokens`` and ``cache_write_tokens`` say how much of it. ``cost_usd``
    is set when the CLI reports a cost.
    """

    type: ClassVar[str] = "usage"
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = None

    @property
    def cached_share(self) -> float:
        """The share of input tokens read from the cache (0.0 to 1.0)."""
        return self.cache_read_tokens / self.input_tokens if self.input_tokens else 0.0

    def __add__(self, other: Usage) -> Usage:
        cost = (
            None
            if self.cost_usd is None and other.cost_usd is None
            else (self.cost_usd or 0.0) + (other.cost_usd or 0.0)
        )
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            cost,
        )


class StopReason(str, Enum):
    """Why a turn ended."""

    end_turn = "end_turn"
    max_tokens = "max_tokens"
    refusal = "refusal"
    cancelled = "cancelled"
    error = "error"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class TurnEnd:
    """A turn is over.

    ``text`` is the final assistant text of the whole turn (every assistant
    message of the turn, joined), not the last streamed chunk.
    """

    type: ClassVar[str] = "turn_end"
    stop_reason: StopReason
    text: str = ""
    duration_s: float = 0.0
    usage: Usage | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the turn ended normally (not cancelled, not failed)."""
        return self.stop_reason in (StopReason.end_turn, StopReason.max_tokens)


@dataclass(frozen=True, slots=True)
class Error:
    """Something went wrong. ``fatal`` errors end the session (it becomes failed)."""

    type: ClassVar[str] = "error"
    message: str
    fatal: bool = False
    code: str | None = None


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The session moved to another state (see ``SessionState``)."""

    type: ClassVar[str] = "state"
    state: str


@dataclass(frozen=True, slots=True)
class PermissionRequest:
    """The agent asks to use a tool, and a person is asked (see ``docs/approvals.md``).

    ``id`` is the approval's (what ``POST /v1/approvals/{id}`` answers);
    ``tool_call_id``, ``name``, ``kind``, ``input``, ``paths`` and ``title`` describe
    the call as a :class:`ToolCall` does; ``options`` are the choices the CLI offers
    (by its own names); ``rule`` the profile's rule that asked; ``timeout_s`` how long
    the request waits before it is refused. A :class:`PermissionAnswer` of the same
    ``id`` always follows.
    """

    type: ClassVar[str] = "permission_request"
    id: str
    tool_call_id: str
    name: str
    kind: ToolKind = ToolKind.other
    input: dict[str, Any] = field(default_factory=dict)
    paths: tuple[str, ...] = ()
    title: str = ""
    options: tuple[str, ...] = ()
    rule: str = ""
    timeout_s: float = 0.0


@dataclass(frozen=True, slots=True)
class PermissionAnswer:
    """The answer to the :class:`PermissionRequest` of the same ``id``.

    ``decision`` is ``allow_once``, ``allow_session`` (this tool, for the rest of the
    session) or ``deny``; ``reason`` what the agent is told of a refusal; ``by`` who
    answered: ``user``, ``client:<name>``, or ``aegis`` (the request timed out, or
    its turn ended first).
    """

    type: ClassVar[str] = "permission_answer"
    id: str
    decision: str
    reason: str = ""
    by: str = "user"

    @property
    def allowed(self) -> bool:
        """Whether the tool may run."""
        return self.decision != "deny"


Event: TypeAlias = (
    SessionStarted
    | UserMessage
    | TextDelta
    | AssistantMessage
    | Thinking
    | ToolCall
    | ToolResult
    | Plan
    | Usage
    | TurnEnd
    | Error
    | StateChanged
    | PermissionRequest
    | PermissionAnswer
)
"""Any canonical event."""

EVENT_TYPES: dict[str, type[Any]] = {
    cls.type: cls
    for cls in (
        SessionStarted,
        UserMessage,
        TextDelta,
        AssistantMessage,
        Thinking,
        ToolCall,
        ToolResult,
        Plan,
        Usage,
        TurnEnd,
        Error,
        StateChanged,
        PermissionRequest,
        PermissionAnswer,
    )
}


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}
_SCALARS = (str, int, float, bool, type(None))


def to_dict(event: Event) -> dict[str, Any]:
    """The JSON-ready form of an event: ``{"type": ..., **fields}``."""
    # On the path of every event of every session (transcripts): field names are
    # looked up once per class, and plain values skip the recursive conversion.
    cls = type(event)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    data: dict[str, Any] = {"type": event.type}
    for name in names:
        value = getattr(event, name)
        data[name] = value if type(value) in _SCALARS else _plain(value)
    return data


def from_dict(data: dict[str, Any]) -> Event:
    """The event a :func:`to_dict` dictionary describes.

    Raises ``ValueError`` for an unknown type.
    """
    kind = data.get("type")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown event type {kind!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in data.items() if k in names}
    if cls is PermissionRequest:
        values["kind"] = ToolKind(values.get("kind", "other"))
        values["paths"] = tuple(values.get("paths", ()))
        values["options"] = tuple(values.get("options", ()))
    elif cls is ToolCall:
        values["kind"] = ToolKind(values.get("kind", "other"))
        values["paths"] = tuple(values.get("paths", ()))
    elif cls is TurnEnd:
        values["stop_reason"] = StopReason(values["stop_reason"])
        if values.get("usage") is not None:
            values["usage"] = Usage(**values["usage"])
    elif cls is Plan:
        values["entries"] = tuple(PlanEntry(**e) for e in values.get("entries", ()))
    elif cls is SessionStarted:
        values["tools"] = tuple(values.get("tools", ()))
    event: Event = cls(**values)
    return event
