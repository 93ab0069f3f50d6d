"""Claude Code's stream-json messages → canonical events.

:class:`Translator` is pure: it is fed one decoded stdout message at a time and
returns the events it means, keeping only what a turn needs to remember (the text
so far, which messages already streamed). It knows nothing of processes or turns
boundaries; the driver decides which messages belong to a turn and feeds those.

What claude 2.1.331 prints during a turn (with ``--include-partial-messages``):

* ``system``/``init`` (session id, model, tools), ``system``/``status`` and other
  ``system`` notices;
* ``stream_event`` wrapping the Messages API's SSE events: ``text_delta`` and
  ``thinking_delta`` chunks stream from here;
* ``assistant``, one line per finished content block (text, thinking, tool_use) of
  an API message; ``user`` lines carrying ``tool_result`` blocks;
* ``result``, ending the turn: ``subtype``, ``is_error``, ``result`` (the last
  text), ``stop_reason``, ``usage`` of the whole turn, ``total_cost_usd`` (of the
  whole *session*, resumes included) and ``model_usage_since_last_result`` (per
  model, with the cost of this turn).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aegis.events import (
    AssistantMessage,
    Error,
    Event,
    Plan,
    StopReason,
    TextDelta,
    Thinking,
    ToolCall,
    ToolResult,
    TurnEnd,
    Usage,
)
from aegis_claude.tools import plan_entries, tool_kind, tool_paths, tool_title

_STOP_REASONS = {
    "end_turn": StopReason.end_turn,
    "stop_sequence": StopReason.end_turn,
    "tool_use": StopReason.end_turn,
    "pause_turn": StopReason.end_turn,
    "max_tokens": StopReason.max_tokens,
    "model_context_window_exceeded": StopReason.max_tokens,
    "refusal": StopReason.refusal,
}

TEXT_SEPARATOR = "\n\n"
"""Between the assistant messages of one turn in ``TurnEnd.text``."""


class Translator:
    """Turns stream-json messages (decoded JSON objects) into canonical events."""

    def __init__(self) -> None:
        self.session_id: str | None = None
        """The conversation id, from the last ``system``/``init`` line."""
        self.model: str | None = None
        """The model of the last ``system``/``init`` line."""
        self.tools: tuple[str, ...] = ()
        """The tools of the last ``system``/``init`` line (MCP tools included)."""
        self.interrupted = False
        """Set by the driver when it interrupted the current turn."""
        self.notes: list[str] = []
        """Things worth a line in the diagnostics; the driver takes them away."""
        self._last_total_cost: float | None = None
        self.begin_turn()

    def begin_turn(self) -> None:
        """Forget the previous turn's text and streaming state."""
        self.interrupted = False
        self._texts: list[str] = []
        # API message ids whose text / thinking already went out as deltas.
        self._streamed_text: set[str] = set()
        self._streamed_thinking: set[str] = set()
        self._current_message: str | None = None

    @property
    def turn_text(self) -> str:
        """The assistant text of the turn so far (all its messages, joined)."""
        return TEXT_SEPARATOR.join(self._texts)

    def feed(self, message: Mapping[str, Any]) -> list[Event]:
        """The events of one stdout message (often none)."""
        kind = message.get("type")
        if kind == "stream_event":
            return self._stream_event(message)
        if kind == "assistant":
            return self._assistant(message)
        if kind == "user":
            return self._user(message)
        if kind == "result":
            return self._result(message)
        if kind == "system":
            self._system(message)
        return []

    # --- one kind of line each ------------------------------------------------------

    def _system(self, message: Mapping[str, Any]) -> None:
        subtype = message.get("subtype")
        if subtype == "init":
            self.session_id = _str(message.get("session_id")) or self.session_id
            self.model = _str(message.get("model")) or self.model
            tools = message.get("tools")
            if isinstance(tools, list):
                self.tools = tuple(str(tool) for tool in tools)
        elif subtype == "api_retry":
            self.notes.append(f"claude: retrying the model API: {_brief(message)}")
        elif subtype in ("compact_boundary", "task_notification", "model_fallback"):
            self.notes.append(f"claude: {subtype}: {_brief(message)}")

    def _stream_event(self, message: Mapping[str, Any]) -> list[Event]:
        event = message.get("event")
        if not isinstance(event, Mapping) or message.get("parent_tool_use_id"):
            # A subagent's stream is not the agent's own voice.
            return []
        etype = event.get("type")
        if etype == "message_start":
            inner = event.get("message")
            if isinstance(inner, Mapping):
                self._current_message = _str(inner.get("id"))
            return []
        if etype != "content_block_delta":
            return []
        delta = event.get("delta")
        if not isinstance(delta, Mapping):
            return []
        message_id = _str(message.get("api_message_id")) or self._current_message or ""
        dtype = delta.get("type")
        if dtype == "text_delta" and isinstance(text := delta.get("text"), str) and text:
            self._streamed_text.add(message_id)
            return [TextDelta(text)]
        if dtype == "thinking_delta" and isinstance(text := delta.get("thinking"), str) and text:
            self._streamed_thinking.add(message_id)
            return [Thinking(text)]
        return []

    def _assistant(self, message: Mapping[str, Any]) -> list[Event]:
        inner = message.get("message")
        if not isinstance(inner, Mapping):
            return []
        content = inner.get("content")
        if not isinstance(content, list):
            return []
        message_id = _str(inner.get("id")) or ""
        own_voice = not message.get("parent_tool_use_id")
        # An API error is reported as a synthetic assistant message too; the result
        # line that follows carries it, as an Error, and it is not the model's text.
        synthetic = bool(message.get("is_api_error_message")) or inner.get("model") == "<synthetic>"
        events: list[Event] = []
        texts: list[str] = []
        for block in content:
            if not isinstance(block, Mapping):
                continue
            btype = block.get("type")
            if btype == "text" and own_voice and not synthetic:
                text = block.get("text")
                if isinstance(text, str) and text:
                    texts.append(text)
            elif btype == "thinking" and own_voice and message_id not in self._streamed_thinking:
                thought = block.get("thinking")
                if isinstance(thought, str) and thought:
                    events.append(Thinking(thought))
            elif btype == "tool_use":
                events.extend(self._tool_use(block))
        if texts:
            text = "".join(texts)
            if message_id not in self._streamed_text:
                # Partial messages were off (or lost): the whole text is the one delta.
                events.append(TextDelta(text))
            events.append(AssistantMessage(text))
            self._texts.append(text)
        return events

    def _tool_use(self, block: Mapping[str, Any]) -> list[Event]:
        name = _str(block.get("name")) or "?"
        raw_input = block.get("input")
        tool_input = dict(raw_input) if isinstance(raw_input, Mapping) else {}
        events: list[Event] = [
            ToolCall(
                id=_str(block.get("id")) or "",
                name=name,
                kind=tool_kind(name),
                input=tool_input,
                paths=tool_paths(tool_input),
                title=tool_title(name, tool_input),
            )
        ]
        if name == "TodoWrite" and (entries := plan_entries(tool_input)) is not None:
            events.append(Plan(entries))
        return events

    def _user(self, message: Mapping[str, Any]) -> list[Event]:
        if message.get("isReplay"):
            return []
        inner = message.get("message")
        content = inner.get("content") if isinstance(inner, Mapping) else None
        if not isinstance(content, list):
            return []
        return [
            ToolResult(
                id=_str(block.get("tool_use_id")) or "",
                ok=not block.get("is_error", False),
                output=_content_text(block.get("content")),
            )
            for block in content
            if isinstance(block, Mapping) and block.get("type") == "tool_result"
        ]

    def _result(self, message: Mapping[str, Any]) -> list[Event]:
        usage = self._usage(message)
        text = self.turn_text
        if not text and not message.get("is_error") and isinstance(message.get("result"), str):
            text = message["result"]
        duration = message.get("duration_ms")
        duration_s = duration / 1000 if isinstance(duration, int | float) else 0.0
        subtype = message.get("subtype")
        terminal = str(message.get("terminal_reason") or "")
        events: list[Event] = [usage]
        if self.interrupted or (
            subtype == "error_during_execution" and terminal.startswith("aborted")
        ):
            events.append(TurnEnd(StopReason.cancelled, text, duration_s, usage))
        elif message.get("is_error") or (isinstance(subtype, str) and subtype != "success"):
            error = error_of(message)
            events.append(error)
            events.append(TurnEnd(StopReason.error, text, duration_s, usage, error.message))
        else:
            stop = _STOP_REASONS.get(str(message.get("stop_reason")), StopReason.end_turn)
            events.append(TurnEnd(stop, text, duration_s, usage))
        return events

    def _usage(self, message: Mapping[str, Any]) -> Usage:
        raw = message.get("usage")
        usage = raw if isinstance(raw, Mapping) else {}
        cache_read = _int(usage.get("cache_read_input_tokens"))
        cache_write = _int(usage.get("cache_creation_input_tokens"))
        return Usage(
            input_tokens=_int(usage.get("input_tokens")) + cache_read + cache_write,
            output_tokens=_int(usage.get("output_tokens")),
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
            cost_usd=self._turn_cost(message),
        )

    def _turn_cost(self, message: Mapping[str, Any]) -> float | None:
        # total_cost_usd is the session's running total (a resumed session starts from
        # the old total); the per-model usage since the last result is this turn's.
        total = message.get("total_cost_usd")
        total = float(total) if isinstance(total, int | float) else None
        previous, self._last_total_cost = self._last_total_cost, total or self._last_total_cost
        since = message.get("model_usage_since_last_result")
        if isinstance(since, Mapping):
            return sum(
                float(cost)
                for entry in since.values()
                if isinstance(entry, Mapping)
                and isinstance(cost := entry.get("costUSD"), int | float)
            )
        if total is None:
            return None
        return max(0.0, total - previous) if previous is not None else total


def error_of(result: Mapping[str, Any]) -> Error:
    """The :class:`Error` a failed ``result`` line stands for.

    An API error (``api_error_status`` set, e.g. a 400 that claude's retries did not
    cure) is fatal: the credentials, the request or the service need a person, and
    every further turn would fail the same way. Other failures (too many turns, the
    budget spent, a failure during execution) end only the turn.
    """
    status = result.get("api_error_status")
    text = result.get("result")
    errors = result.get("errors")
    if isinstance(text, str) and text.strip():
        message = text.strip()
    elif isinstance(errors, list) and errors:
        message = "; ".join(str(error) for error in errors)
    else:
        message = f"claude ended the turn with {result.get('subtype') or 'an error'}"
    if isinstance(status, int):
        return Error(message, fatal=True, code=f"api_error_{status}")
    return Error(message, fatal=False, code=str(result.get("subtype") or "error"))


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(block.get("text", ""))
            for block in content
            if isinstance(block, Mapping) and block.get("type") == "text"
        )
    return "" if content is None else str(content)


def _brief(message: Mapping[str, Any], limit: int = 300) -> str:
    fields = {k: v for k, v in message.items() if k not in ("type", "session_id", "uuid")}
    return repr(fields)[:limit]


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
