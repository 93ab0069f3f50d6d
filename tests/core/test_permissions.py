"""The permission policy: by tool kind, and trusted MCP servers."""

from __future__ import annotations

import pytest

from aegis.config.enums import Permission
from aegis.driver import McpServer
from aegis.events import ToolKind
from aegis.permissions import allows, trusted_tool


@pytest.mark.parametrize(
    ("permission", "allowed"),
    [
        (Permission.read, {ToolKind.read, ToolKind.search, ToolKind.think}),
        (Permission.write, {ToolKind.read, ToolKind.search, ToolKind.think, ToolKind.edit}),
        (Permission.full, set(ToolKind)),
        (Permission.auto, {ToolKind.read, ToolKind.search, ToolKind.think}),
    ],
)
def test_each_permission_allows_the_kinds_of_its_row(
    permission: Permission, allowed: set[ToolKind]
) -> None:
    assert {kind for kind in ToolKind if allows(permission, kind)} == allowed


def test_trusted_servers_tools_are_recognised_under_each_clis_naming() -> None:
    servers = [McpServer("aegis", "u", trusted=True), McpServer("web", "u")]
    for name in ("mcp__aegis__aegis_handoff", "mcp_aegis_aegis_handoff", "aegis_aegis_meta"):
        assert trusted_tool(name, servers), name
    for name in ("mcp__web__fetch", "web_fetch", "Bash", "mcp__aegisx__tool"):
        assert not trusted_tool(name, servers), name
