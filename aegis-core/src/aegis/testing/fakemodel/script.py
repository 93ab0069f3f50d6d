"""Scripts: ordered rules that choose the fake model's reply to each real request."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._types import ModelRequest, Reply, ToolCall

Predicate = Callable[[ModelRequest], bool]
Responder = Callable[[ModelRequest], "Reply | str"]
Matcher = str | re.Pattern[str] | Predicate
Answer = Reply | str | Responder

TOOL_RESULT_PREVIEW = 200


@dataclass
class Rule:
    """One scripted rule: when ``match`` holds, answer with ``reply``.

    A regex (``str`` or compiled) is searched in the request's ``user_text``. Because a
    tool-result message has an empty ``user_text``, a pattern rule never fires again on the
    result of the tool call it asked for, which would otherwise loop forever.
    """

    match: Matcher
    reply: Answer
    once: bool = False
    used: int = field(default=0, init=False)

    def matches(self, request: ModelRequest) -> bool:
        """Whether this rule applies to ``request`` (ignoring ``once``)."""
        if isinstance(self.match, str):
            return re.search(self.match, request.user_text) is not None
        if isinstance(self.match, re.Pattern):
            return self.match.search(request.user_text) is not None
        return bool(self.match(request))

    def answer(self, request: ModelRequest) -> Reply:
        """The reply for ``request``, calling the responder if the rule holds one."""
        reply = self.reply(request) if callable(self.reply) else self.reply
        return Reply(text=reply) if isinstance(reply, str) else reply


def default_reply(request: ModelRequest) -> Reply:
    """What the model says when no rule matches: report the tool output, or echo the user."""
    if request.tool_results:
        return Reply(text=f"tool said: {request.tool_results[0].output[:TOOL_RESULT_PREVIEW]}")
    return Reply(text=f"echo: {request.user_text}")


class Script:
    """Ordered rules; the first that matches answers. Safe to extend while a server runs.

    >>> script = Script().on(r"run ls", lambda req: Reply(tool_calls=[shell_call(req, "ls")]))
    """

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self._rules: list[Rule] = list(rules)
        self._lock = threading.Lock()

    def on(self, match: Matcher, reply: Answer, *, once: bool = False) -> Script:
        """Append a rule and return the script, so rules can be chained."""
        return self.add(Rule(match, reply, once=once))

    def add(self, rule: Rule) -> Script:
        """Append ``rule`` (it is tried after the existing ones)."""
        with self._lock:
            self._rules.append(rule)
        return self

    def first(self, match: Matcher, reply: Answer, *, once: bool = False) -> Script:
        """Insert a rule in front of the existing ones."""
        with self._lock:
            self._rules.insert(0, Rule(match, reply, once=once))
        return self

    def clear(self) -> None:
        """Drop every rule (the default replies remain)."""
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[Rule]:
        """A snapshot of the rules."""
        with self._lock:
            return list(self._rules)

    def reply_for(self, request: ModelRequest) -> Reply:
        """Choose the reply to ``request``: the first live matching rule, else the default."""
        with self._lock:
            # Choosing and marking a once-rule used happen under one lock, so two concurrent
            # requests never both take the same once-rule.
            for rule in self._rules:
                if rule.once and rule.used:
                    continue
                if rule.matches(request):
                    rule.used += 1
                    chosen: Rule | None = rule
                    break
            else:
                chosen = None
        # The responder runs outside the lock: it may be slow or touch the script itself.
        return chosen.answer(request) if chosen else default_reply(request)


# Tool-name conventions of each CLI. Checked in order against the offered tools.
_SHELL_TOOLS: tuple[tuple[str, bool], ...] = (
    ("Bash", True),  # claude: {"command", "description"}
    ("run_shell_command", False),  # gemini: {"command"} (description optional)
    ("bash", True),  # opencode: {"command", "description"}
)


def shell_call(
    request: ModelRequest, command: str, *, description: str = "", tool: str | None = None
) -> ToolCall:
    """A call of the CLI's shell tool running ``command``, named as ``request`` offers it.

    ``tool`` names the shell tool of a CLI the kit does not know (its arguments are
    ``{"command"}``, plus ``"description"`` when its schema requires one). Without it, the
    shell tools of claude, gemini and opencode are looked for. Raises ``LookupError`` if
    the request offers no such tool.
    """
    known = ((tool, False),) if tool is not None else _SHELL_TOOLS
    for name, wants_description in known:
        if name in request.tools:
            args: dict[str, Any] = {"command": command}
            if wants_description or "description" in _required(request, name):
                args["description"] = description or f"Run {command}"
            return ToolCall(name, args)
    raise LookupError(f"no shell tool among the offered tools: {', '.join(request.tools)}")


def mcp_tool_name(request: ModelRequest, server: str, tool: str) -> str:
    """The name under which ``request`` offers the MCP tool ``tool`` of server ``server``.

    claude says ``mcp__SERVER__TOOL``, gemini ``mcp_SERVER_TOOL``, opencode ``SERVER_TOOL``.
    Raises ``LookupError`` if none is offered (claude may defer MCP tools behind
    ``ToolSearch`` unless ``ENABLE_TOOL_SEARCH=false``).
    """
    for name in (f"mcp__{server}__{tool}", f"mcp_{server}_{tool}", f"{server}_{tool}"):
        if name in request.tools:
            return name
    # CLIs may sanitise server names (e.g. '-' to '_'); fall back to a suffix match.
    candidates = [t for t in request.tools if t.endswith(f"_{tool}") and server in t]
    if len(candidates) == 1:
        return candidates[0]
    raise LookupError(
        f"MCP tool {tool!r} of server {server!r} not offered; tools: {', '.join(request.tools)}"
    )


def mcp_call(
    request: ModelRequest, server: str, tool: str, args: Mapping[str, Any] | None = None
) -> ToolCall:
    """A call of MCP tool ``tool`` on ``server``, named as ``request`` offers it."""
    return ToolCall(mcp_tool_name(request, server, tool), dict(args or {}))


def _required(request: ModelRequest, tool: str) -> list[str]:
    schema = request.tool_schemas.get(tool, {})
    required = schema.get("required", [])
    return [str(r) for r in required] if isinstance(required, list) else []
