"""Answering a harness's permission requests from the profile's permission level.

When a CLI asks "may I run this?", nobody may be at the keyboard: aegis answers
for the profile. The rule, by the tool's semantic kind:

========== ======================== ======================== =================
permission read / search / think     edit                     execute / fetch /
           (looking)                 (changing files)         other
========== ======================== ======================== =================
read       allow                    deny                     deny
write      allow                    allow                    deny
full       allow                    allow                    allow
auto       allow                    deny                     deny
========== ======================== ======================== =================

``auto`` leaves the decisions to the CLI's defaults; whatever the CLI still asks
about is refused in headless use (a frontend may answer for a person instead).

Tools of a *trusted* MCP server (aegis's own plane) are allowed at every level:
they hand work to peers and read the runtime's state, and touch no file.
"""

from __future__ import annotations

from collections.abc import Iterable

from aegis.config.enums import Permission
from aegis.driver import McpServer
from aegis.events import ToolKind

_LOOKING = frozenset({ToolKind.read, ToolKind.search, ToolKind.think})


def allows(permission: Permission, kind: ToolKind) -> bool:
    """Whether a profile with ``permission`` may use a tool of ``kind`` without asking."""
    if permission is Permission.full or kind in _LOOKING:
        return True
    if kind is ToolKind.edit:
        return permission is Permission.write
    return False


def refusal(permission: Permission, kind: ToolKind) -> str:
    """The message given to the agent when a tool is refused."""
    return (
        f"aegis refused this {kind.value} tool: the agent's profile has permission "
        f"'{permission.value}'; a profile needs permission 'full' for it"
        + ("" if kind is not ToolKind.edit else " (or 'write' for edits)")
    )


def trusted_tool(name: str, servers: Iterable[McpServer]) -> bool:
    """Whether tool ``name`` belongs to one of the trusted MCP ``servers``.

    Each CLI names MCP tools its own way: ``mcp__SERVER__TOOL`` (claude),
    ``mcp_SERVER_TOOL`` (gemini), ``SERVER_TOOL`` (opencode).
    """
    for server in servers:
        if server.trusted and name.startswith(
            (f"mcp__{server.name}__", f"mcp_{server.name}_", f"{server.name}_")
        ):
            return True
    return False
