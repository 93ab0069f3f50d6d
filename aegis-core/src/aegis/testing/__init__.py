"""``aegis.testing``: the kit for testing aegis plugins, shipped in aegis-core.

It holds what aegis's own test suite runs the real coding-agent CLIs with, for a
provider author to run theirs the same way:

- :class:`FakeModelServer`: a scripted model on ``127.0.0.1`` speaking the Anthropic,
  Gemini and OpenAI-compatible wire APIs, with a log of every request;
- :class:`McpTestServer`: a streamable-HTTP MCP server with one ``record`` tool;
- :class:`Recorder`: collects a driver's canonical events;
- :func:`isolated_env`, :func:`alive`, :func:`wait_gone`, :func:`group_members`: a
  clean environment for a CLI, and checks that its processes are gone;
- :mod:`aegis.testing.conformance`: the provider conformance suite.

It is also a pytest plugin (entry point ``pytest11``, or ``pytest -p aegis.testing``)
offering the fixtures ``fake_model``, ``mcp_test_server`` and ``recorder``. The plugin
only defines fixtures: loading it imports nothing beyond this module, so it costs an
unrelated pytest run nothing. The fixtures and the conformance suite need pytest
(``pip install 'aegis-core[testing]'``); the servers and helpers need only aegis-core.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aegis.testing.environment import isolated_env
    from aegis.testing.fakemodel import (
        FakeModelServer,
        LoggedRequest,
        ModelRequest,
        Reply,
        Script,
        ToolCall,
        ToolResult,
        Usage,
        mcp_call,
        mcp_tool_name,
        shell_call,
    )
    from aegis.testing.mcp_server import McpTestServer, RecordedCall
    from aegis.testing.processes import alive, group_members, wait_gone
    from aegis.testing.recorder import Recorder

# Public name -> the module that defines it, imported on first use (PEP 562), so that
# pytest loading this plugin does not import the servers, uvicorn or mcp.
_LAZY = {
    "FakeModelServer": "aegis.testing.fakemodel",
    "LoggedRequest": "aegis.testing.fakemodel",
    "ModelRequest": "aegis.testing.fakemodel",
    "Reply": "aegis.testing.fakemodel",
    "Script": "aegis.testing.fakemodel",
    "ToolCall": "aegis.testing.fakemodel",
    "ToolResult": "aegis.testing.fakemodel",
    "Usage": "aegis.testing.fakemodel",
    "mcp_call": "aegis.testing.fakemodel",
    "mcp_tool_name": "aegis.testing.fakemodel",
    "shell_call": "aegis.testing.fakemodel",
    "McpTestServer": "aegis.testing.mcp_server",
    "RecordedCall": "aegis.testing.mcp_server",
    "Recorder": "aegis.testing.recorder",
    "isolated_env": "aegis.testing.environment",
    "alive": "aegis.testing.processes",
    "group_members": "aegis.testing.processes",
    "wait_gone": "aegis.testing.processes",
}

__all__ = [
    "FakeModelServer",
    "LoggedRequest",
    "McpTestServer",
    "ModelRequest",
    "RecordedCall",
    "Recorder",
    "Reply",
    "Script",
    "ToolCall",
    "ToolResult",
    "Usage",
    "alive",
    "group_members",
    "isolated_env",
    "mcp_call",
    "mcp_tool_name",
    "shell_call",
    "wait_gone",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aegis.testing' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


try:
    import pytest
except ImportError:  # aegis-core without its [testing] extra: the helpers still work
    pass
else:
    # The suite's failures then show the values compared, as in a test module.
    pytest.register_assert_rewrite("aegis.testing.conformance")
    from aegis.testing.fixtures import fake_model, mcp_test_server, recorder  # noqa: F401
