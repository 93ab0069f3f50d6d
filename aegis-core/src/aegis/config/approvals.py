"""A profile's approval rules: what to allow, refuse or ask a person about.

When a CLI asks "may I run this tool?", aegis looks at the profile's rules first, in
this order (the first list with a matching rule decides):

1. ``deny``: refused, nobody asked;
2. ``allow``: allowed, nobody asked;
3. ``ask``: a person is asked (every attached frontend shows the request; with
   nobody answering within ``timeout`` seconds it is refused);
4. none matches: the profile's permission level decides, as it always did
   (:mod:`aegis.permissions`).

A rule is one string (in the spirit of claude's ``permissions.allow/deny/ask``
settings):

``"execute"``
    a tool kind (``read``, ``edit``, ``execute``, ``search``, ``think``, ``fetch``,
    ``other``): every tool of that kind;
``"Bash"``, ``"mcp__github__*"``
    a tool, by the CLI's own name (``*`` matches any text): claude's ``Bash``,
    gemini's ``run_shell_command``, opencode's ``bash``;
``"Bash(git *)"``, ``"execute(npm test)"``, ``"edit(src/*)"``
    a tool or kind, and a pattern its argument must match: the command of a shell
    tool, each path a file tool touches (any one matching is enough), else its URL,
    else its title. ``*`` matches any text, ``/`` included; ``git diff:*`` (claude's
    prefix form) matches ``git diff`` and ``git diff`` followed by anything;
``"*"``
    every tool.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from aegis.errors import ConfigError
from aegis.events import ToolKind

DEFAULT_TIMEOUT_S = 600.0
"""How long a request waits for a person before it is refused (ten minutes)."""

_RULE = re.compile(r"^\s*(?P<tool>[^()\s][^()]*?)\s*(?:\((?P<arg>.*)\))?\s*$", re.DOTALL)
_KINDS = {kind.value for kind in ToolKind}


@dataclass(frozen=True)
class Rule:
    """One parsed rule: a tool (a kind, or a name pattern) and maybe an argument pattern."""

    text: str
    tool: str
    argument: str | None = None

    @classmethod
    def parse(cls, text: str) -> Rule:
        """The rule ``text`` says; :class:`~aegis.errors.ConfigError` if it says none."""
        match = _RULE.match(text) if isinstance(text, str) else None
        if match is None or not match.group("tool").strip():
            raise ConfigError(
                f"{text!r} is not an approval rule",
                hint="a tool kind ('execute'), a tool name ('Bash'), or either with an "
                "argument pattern ('Bash(git *)', 'edit(src/*)')",
            )
        argument = match.group("arg")
        return cls(text, match.group("tool").strip(), argument.strip() if argument else None)

    def matches(self, name: str, kind: ToolKind, subjects: tuple[str, ...]) -> bool:
        """Whether a call of tool ``name`` (of ``kind``) on ``subjects`` falls under this rule."""
        if self.tool in _KINDS:
            if kind.value != self.tool:
                return False
        elif not fnmatchcase(name, self.tool):
            return False
        if self.argument is None or self.argument == "*":
            return True
        return any(_argument_matches(self.argument, subject) for subject in subjects)


def _argument_matches(pattern: str, subject: str) -> bool:
    if pattern.endswith(":*"):
        prefix = pattern[:-2]
        return subject == prefix or subject.startswith(prefix + " ")
    return fnmatchcase(subject, pattern)


def subjects_of(tool_input: dict[str, Any], paths: tuple[str, ...], title: str) -> tuple[str, ...]:
    """What a rule's argument pattern is matched against: the command, else the paths,
    else the URL, else the title."""
    for key in ("command", "cmd"):
        value = tool_input.get(key)
        if isinstance(value, str) and value.strip():
            return (value.strip(),)
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return (" ".join(value),)
    if paths:
        return paths
    url = tool_input.get("url")
    if isinstance(url, str) and url:
        return (url,)
    return (title,) if title else ()


class Approvals(BaseModel):
    """A profile's approval rules (see the module documentation for their syntax)::

        Agent(
            provider=ClaudeCode(permission="write"),
            approvals=Approvals(
                allow=["Bash(git status)", "Bash(git diff:*)"],
                deny=["Bash(rm *)", "fetch"],
                ask=["execute"],
                timeout=300,
            ),
        )

    With no rules (the default) the profile's permission level alone decides, and
    nobody is asked.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    allow: tuple[str, ...] = ()
    """Rules of the tools allowed without asking."""
    deny: tuple[str, ...] = ()
    """Rules of the tools refused without asking (they win over ``allow`` and ``ask``)."""
    ask: tuple[str, ...] = ()
    """Rules of the tools a person is asked about."""
    timeout: float = DEFAULT_TIMEOUT_S
    """Seconds a request waits for a person's answer before it is refused."""

    @field_validator("allow", "deny", "ask", mode="before")
    @classmethod
    def _rules(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = (value,)
        for text in value if isinstance(value, list | tuple) else ():
            Rule.parse(text)
        return value

    @field_validator("timeout")
    @classmethod
    def _positive(cls, value: float) -> float:
        if not value > 0:
            raise ConfigError(f"the approval timeout must be positive, not {value!r}")
        return value

    def verdict(
        self, name: str, kind: ToolKind, subjects: tuple[str, ...]
    ) -> tuple[str, str] | None:
        """``("deny"|"allow"|"ask", rule)`` for the first list with a matching rule, else None."""
        for verdict, texts in (("deny", self.deny), ("allow", self.allow), ("ask", self.ask)):
            for text in texts:
                if Rule.parse(text).matches(name, kind, subjects):
                    return verdict, text
        return None
