"""The permission gate of one session: the profile's rules, a person, the level's table.

A driver asks its session's :class:`PermissionGate` about every permission request
of its CLI (claude's ``can_use_tool``, ACP's ``session/request_permission``) and
answers the CLI with the :class:`Verdict`. The gate decides, in order:

1. a tool of a *trusted* MCP server (aegis's own plane) is allowed;
2. the profile's ``deny`` rules refuse, its ``allow`` rules allow
   (:class:`~aegis.config.approvals.Approvals`);
3. a tool a person allowed "for the rest of the session" is allowed;
4. the profile's ``ask`` rules ask a person (the session's :data:`Asker`: the
   runtime's :class:`~aegis.approvals.registry.ApprovalRegistry`); without one, the
   request is refused;
5. the profile's permission level decides (:mod:`aegis.permissions`).

Waiting for a person happens inside :meth:`PermissionGate.decide`: a driver calls it
from a task of its own, never from the one reading the CLI's output.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aegis.config.approvals import Approvals, subjects_of
from aegis.config.enums import Permission
from aegis.events import PermissionAnswer, ToolKind
from aegis.permissions import allows, refusal, trusted_tool

if TYPE_CHECKING:
    from aegis.driver import McpServer


@dataclass(frozen=True)
class ToolPermission:
    """What a CLI asks permission for: one call of one tool."""

    tool_call_id: str
    name: str
    kind: ToolKind = ToolKind.other
    input: dict[str, Any] = field(default_factory=dict)
    paths: tuple[str, ...] = ()
    title: str = ""
    options: tuple[str, ...] = ()
    """The choices the CLI offers, by its own names."""
    names: tuple[str, ...] = ()
    """Other names the tool may go by (ACP has no name field: its id's prefix, its title)."""

    @property
    def subjects(self) -> tuple[str, ...]:
        """What a rule's argument pattern is matched against."""
        return subjects_of(self.input, self.paths, self.title)


@dataclass(frozen=True)
class Verdict:
    """The gate's answer: allowed or not, and what the agent is told of a refusal."""

    allowed: bool
    message: str = ""
    asked: bool = False
    """A person was asked (or the request timed out waiting for one): a refusal's
    ``message`` is theirs, and should reach the agent however the CLI allows."""


Asker = Callable[[ToolPermission, str, float], Awaitable[PermissionAnswer]]
"""Asks a person about a tool call: ``(tool, rule, timeout_s)`` to the answer."""


class PermissionGate:
    """Decides a session's permission requests (see the module documentation)."""

    def __init__(
        self,
        approvals: Approvals | None = None,
        *,
        ask: Asker | None = None,
        trusted: tuple[McpServer, ...] = (),
    ) -> None:
        self.approvals = approvals if approvals is not None else Approvals()
        self.ask = ask
        self.trusted = trusted
        self.allowed_tools: set[str] = set()
        """Tools a person allowed for the rest of the session."""

    async def decide(self, permission: Permission, tool: ToolPermission) -> Verdict:
        """The verdict on ``tool`` for a profile of ``permission`` (may wait for a person)."""
        names = (tool.name, *tool.names)
        if any(trusted_tool(name, self.trusted) for name in names if name):
            return Verdict(True)
        ruled = None
        for name in names:
            ruled = self.approvals.verdict(name, tool.kind, tool.subjects)
            if ruled is not None:
                break
        if ruled is not None and ruled[0] == "deny":
            return Verdict(False, f"aegis refused this tool: the profile's rule deny {ruled[1]!r}")
        if ruled is not None and ruled[0] == "allow":
            return Verdict(True)
        if tool.name in self.allowed_tools:
            return Verdict(True)
        if ruled is not None:  # ask
            if self.ask is None:
                return Verdict(
                    False,
                    f"aegis refused this tool: the profile's rule ask {ruled[1]!r} wants a "
                    "person's answer, and nobody can be asked here",
                )
            answer = await self.ask(tool, ruled[1], self.approvals.timeout)
            if answer.decision == "allow_session":
                self.allowed_tools.add(tool.name)
            if answer.allowed:
                return Verdict(True, asked=True)
            return Verdict(False, answer.reason or "a person refused this tool", asked=True)
        if allows(permission, tool.kind):
            return Verdict(True)
        return Verdict(False, refusal(permission, tool.kind))
