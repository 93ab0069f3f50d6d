"""How a Claude Code session is launched: its command line and its environment."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from aegis.config.enums import Permission
from aegis.driver import McpServer, SessionOptions
from aegis.errors import DriverError
from aegis_claude.config import ClaudeCode

BASE_ARGS = (
    "-p",
    "--input-format",
    "stream-json",
    "--output-format",
    "stream-json",
    "--verbose",
    # Without it claude prints whole messages only; aegis streams text as it comes.
    "--include-partial-messages",
)
"""The headless stream-json protocol every session speaks (``--verbose`` is required by it)."""


def build_arguments(
    config: ClaudeCode,
    options: SessionOptions,
    *,
    session_id: str,
    mcp_config_path: str | None = None,
) -> list[str]:
    """The arguments of one long-lived ``claude`` session (after the executable; the
    profile's ``extra_args`` follow them, added by the driver's base).

    ``session_id`` is the conversation's id: with ``options.resume`` set it must be
    that id (``--resume``), otherwise it is a new UUID that claude adopts
    (``--session-id``), so that the id is known before the first turn.
    ``mcp_config_path`` is where claude reads :func:`mcp_config` of the session's MCP
    servers (required when it has some): an inherited pipe, ``/dev/fd/N``.
    """
    argv = [*BASE_ARGS, "--permission-mode", config.permission_mode]
    if config.permission is not Permission.full:
        # Whatever claude would ask a person, it asks aegis on stdin (can_use_tool).
        argv += ["--permission-prompt-tool", "stdio"]
    if config.model:
        argv += ["--model", config.model]
    if config.effort is not None:
        argv += ["--effort", config.effort.value]
    if options.resume:
        argv += ["--resume", options.resume]
    else:
        argv += ["--session-id", session_id]
    if options.mcp_servers:
        if mcp_config_path is None:
            raise ValueError("a session with MCP servers needs mcp_config_path")
        # The ``=`` form: --mcp-config takes several values and would swallow a
        # positional argument of extra_args that followed it.
        argv.append(f"--mcp-config={mcp_config_path}")
    if config.strict_mcp_config:
        argv.append("--strict-mcp-config")
    if options.preamble:
        argv += ["--append-system-prompt", options.preamble]
    return argv


def mcp_config(servers: tuple[McpServer, ...]) -> str:
    """The ``--mcp-config`` JSON for ``servers`` (streamable HTTP servers)."""
    return json.dumps(
        {
            "mcpServers": {
                server.name: {"type": "http", "url": server.url, "headers": dict(server.headers)}
                for server in servers
            }
        },
        separators=(",", ":"),
    )


DEFAULT_ENV: dict[str, str] = {
    # claude defers MCP tools behind its ToolSearch tool by default: the model sees
    # only their names and must search before it may call one. aegis's own tools
    # (handoff, inbox, queues) are how its agents cooperate, so they must be offered
    # directly in every request, like the built-in ones; a profile that prefers the
    # deferral (many large MCP servers) sets ENABLE_TOOL_SEARCH in its env.
    "ENABLE_TOOL_SEARCH": "false",
}
"""The environment claude gets under the profile's and the session's own variables."""


def check_root_bypass(config: ClaudeCode, env: Mapping[str, str], euid: int | None = None) -> None:
    """Raise ``DriverError`` when claude would refuse to start as root in bypass mode.

    claude exits at once with "--dangerously-skip-permissions cannot be used with
    root/sudo privileges" when it runs as root with ``bypassPermissions`` (aegis's
    permission ``full``), unless ``IS_SANDBOX=1`` says the machine is a sandbox.
    """
    if euid is None:
        euid = os.geteuid()
    if euid != 0 or config.permission is not Permission.full or env.get("IS_SANDBOX") == "1":
        return
    raise DriverError(
        "claude refuses permission 'full' (--permission-mode bypassPermissions) when it runs "
        "as root, unless the environment says the machine is a sandbox (IS_SANDBOX=1). "
        "If this machine or container is a disposable sandbox, add "
        "env={'IS_SANDBOX': '1'} to the ClaudeCode profile (or export IS_SANDBOX=1); "
        "otherwise run aegis as an unprivileged user, or give the profile permission "
        "'write' or 'auto'."
    )
