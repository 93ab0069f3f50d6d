"""A scripted fake model server that the real coding-agent CLIs can talk to.

It speaks the Anthropic Messages API (claude), the Gemini API (gemini) and the OpenAI chat
completions API (opencode), streams replies as each CLI expects, answers housekeeping side
calls by itself, and records every real turn as a wire-independent ``ModelRequest``.
Standard library only.
"""

from ._types import Api, ModelRequest, Reply, ToolCall, ToolResult, Usage
from .script import Rule, Script, default_reply, mcp_call, mcp_tool_name, shell_call
from .server import FakeModelServer, LoggedRequest

__all__ = [
    "Api",
    "FakeModelServer",
    "LoggedRequest",
    "ModelRequest",
    "Reply",
    "Rule",
    "Script",
    "ToolCall",
    "ToolResult",
    "Usage",
    "default_reply",
    "mcp_call",
    "mcp_tool_name",
    "shell_call",
]
