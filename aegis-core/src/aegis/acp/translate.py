"""ACP ``session/update`` notifications → canonical events (:mod:`aegis.events`).

One :class:`UpdateTranslator` follows one ACP session. It is in one of three modes:

* in a turn (between :meth:`~UpdateTranslator.begin_turn` and
  :meth:`~UpdateTranslator.end_turn`): updates become events at once, through
  ``emit``;
* replaying (during ``session/load``, when the agent streams the old conversation
  back): updates become :attr:`~UpdateTranslator.history`, never events, since they
  are not new;
* idle (between turns): nothing is emitted, so that nothing of a finished or
  interrupted turn leaks into the next one.

In every mode the session's state (mode, configuration options, commands, context
window, cost) is kept in :class:`AcpSessionState`.

Facts of the CLIs this follows (gemini 0.61, opencode 1.18): a tool call may first be
announced ``pending`` with incomplete input (opencode fills ``rawInput`` in the first
``in_progress`` update), or not announced at all before its permission request and
final update (gemini's MCP calls). So a canonical :class:`~aegis.events.ToolCall` is
emitted once a call leaves ``pending``, when permission is asked for it, or when it
ends, whichever comes first; and every ``ToolCall`` gets a ``ToolResult``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aegis.events import (
    AssistantMessage,
    Event,
    Plan,
    PlanEntry,
    TextDelta,
    Thinking,
    ToolCall,
    ToolKind,
    ToolResult,
    Usage,
)
from aegis.process import Diagnostics

_KINDS: dict[str, ToolKind] = {
    "read": ToolKind.read,
    "edit": ToolKind.edit,
    "delete": ToolKind.edit,
    "move": ToolKind.edit,
    "search": ToolKind.search,
    "execute": ToolKind.execute,
    "think": ToolKind.think,
    "fetch": ToolKind.fetch,
    # Leaving a read-only mode is as consequential as an unknown tool.
    "switch_mode": ToolKind.other,
    "other": ToolKind.other,
}

_FINISHED = ("completed", "failed")


def tool_kind(value: Any) -> ToolKind:
    """The canonical kind of an ACP ``ToolKind`` (``delete`` and ``move`` are edits).

    Unknown or missing kinds are ``other``, which only a ``full`` profile may run.
    """
    return _KINDS.get(value, ToolKind.other) if isinstance(value, str) else ToolKind.other


def usage_from_prompt_response(result: Mapping[str, Any]) -> Usage | None:
    """The token usage a ``session/prompt`` response reports, if any.

    Two shapes are known:

    * ACP's ``usage`` (sent by opencode): ``inputTokens``, ``outputTokens``,
      ``totalTokens`` and, when not zero, ``cachedReadTokens``,
      ``cachedWriteTokens``, ``thoughtTokens``. Whether cache and thought tokens
      are already inside ``inputTokens`` / ``outputTokens`` differs between agents;
      ``totalTokens`` tells, and aegis's ``input_tokens`` always includes them.
    * gemini's ``_meta.quota.token_count``: ``input_tokens``, ``output_tokens``.
    """
    usage = result.get("usage")
    if isinstance(usage, Mapping):
        return _acp_usage(usage)
    meta = result.get("_meta")
    quota = meta.get("quota") if isinstance(meta, Mapping) else None
    counts = quota.get("token_count") if isinstance(quota, Mapping) else None
    if isinstance(counts, Mapping):
        return Usage(
            input_tokens=_int(counts.get("input_tokens")),
            output_tokens=_int(counts.get("output_tokens")),
        )
    return None


def _acp_usage(usage: Mapping[str, Any]) -> Usage:
    fresh = _int(usage.get("inputTokens"))
    out = _int(usage.get("outputTokens"))
    read = _int(usage.get("cachedReadTokens"))
    write = _int(usage.get("cachedWriteTokens"))
    thought = _int(usage.get("thoughtTokens"))
    total = usage.get("totalTokens")
    apart = fresh + read + write + out + thought
    # A total smaller than the sum of the parts means some parts were counted twice:
    # cache tokens inside inputTokens, and/or thought tokens inside outputTokens.
    if not isinstance(total, int) or total >= apart:
        inputs, outputs = fresh + read + write, out + thought
    elif total >= fresh + out + thought:
        inputs, outputs = fresh, out + thought
    elif total >= fresh + read + write + out:
        inputs, outputs = fresh + read + write, out
    else:
        inputs, outputs = fresh, out
    return Usage(
        input_tokens=inputs,
        output_tokens=outputs,
        cache_read_tokens=read,
        cache_write_tokens=write,
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass
class HistoryEntry:
    """One message of a conversation the agent replayed on ``session/load``.

    ``role`` is ``user``, ``assistant``, ``thought`` or ``tool``; for a tool, ``text``
    is its title.
    """

    role: str
    text: str


@dataclass
class AcpSessionState:
    """What an ACP session told about itself, kept up to date by its updates."""

    session_id: str | None = None
    modes: list[dict[str, Any]] = field(default_factory=list)
    """The ``availableModes`` of ``session/new`` (or ``session/load``)."""
    current_mode: str | None = None
    models: list[dict[str, Any]] = field(default_factory=list)
    """The ``availableModels`` some agents (gemini) return from ``session/new``."""
    current_model: str | None = None
    config_options: list[dict[str, Any]] = field(default_factory=list)
    available_commands: list[dict[str, Any]] = field(default_factory=list)
    title: str | None = None
    context_used: int | None = None
    """Tokens in the context window, from the last ``usage_update``."""
    context_size: int | None = None
    cost: float | None = None
    """Cumulative session cost in ``cost_currency``, from the last ``usage_update``."""
    cost_currency: str | None = None

    def take_session_result(self, result: Mapping[str, Any]) -> None:
        """Take the modes, models and options of a ``session/new`` or ``session/load``."""
        modes = result.get("modes")
        if isinstance(modes, Mapping):
            self.modes = _dicts(modes.get("availableModes"))
            current = modes.get("currentModeId")
            self.current_mode = current if isinstance(current, str) else self.current_mode
        models = result.get("models")
        if isinstance(models, Mapping):
            self.models = _dicts(models.get("availableModels"))
            current = models.get("currentModelId")
            self.current_model = current if isinstance(current, str) else self.current_model
        if isinstance(result.get("configOptions"), list):
            self.config_options = _dicts(result["configOptions"])

    def config_option(self, category: str) -> dict[str, Any] | None:
        """The configuration option of ``category`` (``model``, ``mode``...), if offered."""
        for option in self.config_options:
            if option.get("category") == category or option.get("id") == category:
                return option
        return None

    @property
    def model(self) -> str | None:
        """The model the session uses, as far as the agent said."""
        option = self.config_option("model")
        if option is not None and isinstance(option.get("currentValue"), str):
            return str(option["currentValue"])
        return self.current_model


def config_values(option: Mapping[str, Any]) -> list[str]:
    """The values a ``select`` configuration option offers (groups flattened)."""
    values: list[str] = []
    for item in _dicts(option.get("options")):
        if isinstance(item.get("value"), str):
            values.append(item["value"])
        values.extend(config_values(item) if "group" in item else [])
    return values


def _dicts(value: Any) -> list[dict[str, Any]]:
    return (
        [dict(item) for item in value if isinstance(item, Mapping)]
        if isinstance(value, list)
        else []
    )


@dataclass
class _Tool:
    id: str
    name: str
    kind: ToolKind = ToolKind.other
    title: str = ""
    input: dict[str, Any] = field(default_factory=dict)
    paths: tuple[str, ...] = ()
    announced: bool = False
    finished: bool = False
    refusal: str | None = None


class UpdateTranslator:
    """Turns one ACP session's updates into canonical events (see the module docs).

    Subclass it to change how a CLI's tool calls are named (:meth:`tool_name`).
    """

    def __init__(
        self,
        emit: Callable[[Event], None],
        state: AcpSessionState | None = None,
        diagnostics: Diagnostics | None = None,
    ) -> None:
        self.emit = emit
        self.state = state if state is not None else AcpSessionState()
        self.diagnostics = diagnostics if diagnostics is not None else Diagnostics()
        self.history: list[HistoryEntry] = []
        """What the agent replayed when the session was loaded."""
        self._mode = "idle"
        self._tools: dict[str, _Tool] = {}
        self._message: list[str] = []
        self._message_id: Any = None
        self._messages: list[str] = []
        self._cost_at_start: float | None = None
        self._replay_id: Any = None
        self._unknown: set[str] = set()

    # --- modes --------------------------------------------------------------------------

    @property
    def in_turn(self) -> bool:
        """True between :meth:`begin_turn` and :meth:`end_turn`."""
        return self._mode == "turn"

    def begin_turn(self) -> None:
        """A prompt was sent: updates now become events."""
        self._mode = "turn"
        self._tools.clear()
        self._message.clear()
        self._messages.clear()
        self._message_id = None
        self._cost_at_start = self.state.cost

    def next_prompt(self) -> None:
        """Another prompt goes out within the turn (a person's reasons for refusing a tool):
        the assistant text so far is a message of its own, not the start of the next."""
        self._flush_message()
        self._message_id = None

    def end_turn(self) -> str:
        """The turn is over: finish what is open and return all its assistant text."""
        self._flush_message()
        for tool in self._tools.values():
            if not tool.finished:
                self._announce(tool)
                tool.finished = True
                output = tool.refusal or "the tool call did not finish before the turn ended"
                self.emit(ToolResult(tool.id, ok=False, output=output))
        self._mode = "idle"
        return "\n\n".join(self._messages)

    def abandon_turn(self) -> None:
        """The turn was given up (its caller was cancelled): back to idle, emitting nothing."""
        self._mode = "idle"

    def turn_usage(self, result: Mapping[str, Any]) -> Usage | None:
        """The usage of the turn that ended with ``result`` (the prompt response).

        The cost comes from ``usage_update`` notifications: the growth of the
        session's cumulative cost during the turn, when it is in USD.
        """
        usage = usage_from_prompt_response(result)
        if usage == Usage():
            usage = None  # An all-zero report (opencode's, for a cancelled turn) says nothing.
        cost = self.state.cost
        if (
            cost is not None
            and self.state.cost_currency in (None, "USD")
            and cost != self._cost_at_start
        ):
            spent = cost - (self._cost_at_start or 0.0)
            base = usage or Usage()
            usage = Usage(
                base.input_tokens,
                base.output_tokens,
                base.cache_read_tokens,
                base.cache_write_tokens,
                spent,
            )
        return usage

    def begin_replay(self) -> None:
        """``session/load`` was sent: updates now are history."""
        self._mode = "replay"
        self._replay_id = None

    def end_replay(self) -> None:
        """``session/load`` answered: back to idle."""
        self._mode = "idle"

    # --- updates ------------------------------------------------------------------------

    def handle(self, update: Mapping[str, Any]) -> None:
        """Take one ``update`` (the ``params.update`` of a ``session/update``)."""
        kind = update.get("sessionUpdate")
        if kind in ("agent_message_chunk", "agent_thought_chunk", "user_message_chunk"):
            self._chunk(str(kind), update)
        elif kind in ("tool_call", "tool_call_update"):
            self._tool_update(update)
        elif kind == "plan":
            if self._mode == "turn":
                entries = tuple(
                    PlanEntry(
                        str(e.get("content", "")),
                        str(e.get("status", "pending")),
                        str(e.get("priority", "medium")),
                    )
                    for e in _dicts(update.get("entries"))
                )
                self.emit(Plan(entries))
        elif kind == "available_commands_update":
            self.state.available_commands = _dicts(update.get("availableCommands"))
        elif kind == "current_mode_update":
            mode = update.get("currentModeId")
            self.state.current_mode = mode if isinstance(mode, str) else self.state.current_mode
        elif kind == "config_option_update":
            self.state.config_options = _dicts(update.get("configOptions"))
        elif kind == "session_info_update":
            if "title" in update:
                title = update.get("title")
                self.state.title = title if isinstance(title, str) else None
        elif kind == "usage_update":
            self._usage_update(update)
        elif isinstance(kind, str) and kind not in self._unknown:
            self._unknown.add(kind)
            self.diagnostics.add(f"aegis: ignored session updates of unknown kind {kind!r}")

    def permission_asked(
        self, tool_call: Mapping[str, Any], *, allowed: bool, refusal: str | None = None
    ) -> ToolKind:
        """The agent asks to run ``tool_call`` (a ``ToolCallUpdate``); return its kind.

        The call is announced now, so that whoever watches sees what is asked about.
        """
        tool = self._merge(tool_call)
        if tool is None:
            return tool_kind(tool_call.get("kind"))
        if not allowed:
            tool.refusal = refusal
        if self._mode == "turn":
            self._announce(tool)
        return tool.kind

    def describe(
        self, tool_call: Mapping[str, Any]
    ) -> tuple[str, dict[str, Any], tuple[str, ...], str]:
        """``(name, input, paths, title)`` of the tool call a permission request is about,
        with what earlier updates said of it."""
        tool = self._merge(tool_call)
        if tool is None:
            return self.tool_name(tool_call), {}, (), ""
        return tool.name, dict(tool.input), tool.paths, tool.title

    def kind_of(self, tool_call_id: str) -> ToolKind | None:
        """The kind of a tool call seen in this turn, if any."""
        tool = self._tools.get(tool_call_id)
        return tool.kind if tool is not None else None

    # --- naming (override per CLI) ------------------------------------------------------

    def tool_name(self, update: Mapping[str, Any]) -> str:
        """The CLI's own name of the tool a first update is about.

        ACP has no tool-name field. Tried in order: a ``toolName`` in ``_meta`` (or in
        one of its entries), the id's prefix before ``__`` (gemini:
        ``run_shell_command__call_1``), the title (opencode titles a pending call
        with its tool's name).
        """
        meta = update.get("_meta")
        if isinstance(meta, Mapping):
            for holder in (meta, *(v for v in meta.values() if isinstance(v, Mapping))):
                name = holder.get("toolName")
                if isinstance(name, str) and name:
                    return name
        tool_id = str(update.get("toolCallId", ""))
        if "__" in tool_id and not tool_id.startswith("__"):
            return tool_id.split("__", 1)[0]
        title = update.get("title")
        return title if isinstance(title, str) and title else "tool"

    # --- internals ----------------------------------------------------------------------

    def _chunk(self, kind: str, update: Mapping[str, Any]) -> None:
        text = _block_text(update.get("content"))
        message_id = update.get("messageId")
        if self._mode == "replay":
            role = {"agent_message_chunk": "assistant", "agent_thought_chunk": "thought"}.get(
                kind, "user"
            )
            last = self.history[-1] if self.history else None
            if last is not None and last.role == role and message_id == self._replay_id:
                last.text += text
            else:
                self.history.append(HistoryEntry(role, text))
            self._replay_id = message_id
            return
        if self._mode != "turn" or not text:
            return
        if kind == "agent_message_chunk":
            if message_id is not None and message_id != self._message_id:
                self._flush_message()
                self._message_id = message_id
            self._message.append(text)
            self.emit(TextDelta(text))
        elif kind == "agent_thought_chunk":
            self.emit(Thinking(text))
        # user_message_chunk in a live turn echoes what the session layer already emitted.

    def _tool_update(self, update: Mapping[str, Any]) -> None:
        if self._mode == "replay":
            if update.get("sessionUpdate") == "tool_call":
                title = update.get("title")
                self.history.append(HistoryEntry("tool", str(title or self.tool_name(update))))
            return
        if self._mode != "turn":
            return
        tool = self._merge(update)
        if tool is None:
            return
        status = update.get("status")
        if status in ("in_progress", *_FINISHED):
            self._announce(tool)
        if status in _FINISHED and not tool.finished:
            tool.finished = True
            output = _tool_output(update)
            if status == "failed" and tool.refusal:
                # aegis's reason first: the agent's own words rarely say who refused.
                output = tool.refusal + (f"\n{output}" if output else "")
            self.emit(ToolResult(tool.id, ok=status == "completed", output=output))

    def _merge(self, update: Mapping[str, Any]) -> _Tool | None:
        tool_id = update.get("toolCallId")
        if not isinstance(tool_id, str) or not tool_id:
            self.diagnostics.add("aegis: ignored a tool call update without toolCallId")
            return None
        tool = self._tools.get(tool_id)
        if tool is None:
            tool = self._tools[tool_id] = _Tool(tool_id, self.tool_name(update))
        if "kind" in update and update.get("kind") is not None:
            tool.kind = tool_kind(update.get("kind"))
        title = update.get("title")
        if isinstance(title, str) and title:
            tool.title = title
        raw = update.get("rawInput")
        # Only a richer input replaces what is known (opencode first sends just the cwd).
        if isinstance(raw, Mapping) and len(raw) >= len(tool.input):
            tool.input = dict(raw)
        locations = update.get("locations")
        if isinstance(locations, list) and locations:
            paths = [loc.get("path") for loc in locations if isinstance(loc, Mapping)]
            tool.paths = tuple(p for p in paths if isinstance(p, str))
        return tool

    def _announce(self, tool: _Tool) -> None:
        if tool.announced:
            return
        tool.announced = True
        # A tool call ends the assistant message before it.
        self._flush_message()
        self.emit(
            ToolCall(
                tool.id,
                tool.name,
                kind=tool.kind,
                input=tool.input,
                paths=tool.paths,
                title=tool.title,
            )
        )

    def _flush_message(self) -> None:
        if self._message:
            text = "".join(self._message)
            self._message.clear()
            self._messages.append(text)
            self.emit(AssistantMessage(text))

    def _usage_update(self, update: Mapping[str, Any]) -> None:
        used, size = update.get("used"), update.get("size")
        self.state.context_used = used if isinstance(used, int) else self.state.context_used
        self.state.context_size = size if isinstance(size, int) else self.state.context_size
        cost = update.get("cost")
        if isinstance(cost, Mapping) and isinstance(cost.get("amount"), int | float):
            self.state.cost = float(cost["amount"])
            currency = cost.get("currency")
            self.state.cost_currency = currency if isinstance(currency, str) else None


def _block_text(block: Any) -> str:
    """The text of a content block (``text``, an embedded text resource, a link)."""
    if not isinstance(block, Mapping):
        return ""
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind == "resource":
        resource = block.get("resource")
        if isinstance(resource, Mapping) and isinstance(resource.get("text"), str):
            return str(resource["text"])
        return ""
    if kind == "resource_link":
        return str(block.get("uri", ""))
    return ""


def _tool_output(update: Mapping[str, Any]) -> str:
    """What a finished tool call produced: its content, else its ``rawOutput``."""
    parts: list[str] = []
    content = update.get("content")
    for item in content if isinstance(content, list) else []:
        if not isinstance(item, Mapping):
            continue
        if item.get("type") == "content":
            text = _block_text(item.get("content"))
            if text:
                parts.append(text)
        elif item.get("type") == "diff":
            parts.append(f"edited {item.get('path', '')}")
    if parts:
        return "\n".join(parts)
    raw = update.get("rawOutput")
    if isinstance(raw, str):
        return raw
    if isinstance(raw, Mapping) and isinstance(raw.get("output"), str):
        return str(raw["output"])
    if raw is not None:
        return json.dumps(raw, ensure_ascii=False)
    return ""
