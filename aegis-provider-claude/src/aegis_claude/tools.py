"""What Claude Code's tools are, in aegis's vocabulary: their kind, the files they touch.

The kind decides two things: how frontends show a call, and how aegis answers
claude's permission prompts (:func:`aegis.permissions.allows`). The table:

=================================================  ===========  ==========================
claude tool                                        kind         why
=================================================  ===========  ==========================
Read, NotebookRead, LS, ListAgents                 ``read``     looks at files or state
Glob, Grep, ToolSearch                             ``search``   finds files, text, tools
Edit, MultiEdit, Write, NotebookEdit               ``edit``     changes files
Bash, BashOutput, KillShell, KillBash, PowerShell  ``execute``  runs or controls processes
WebFetch, WebSearch                                ``fetch``    reaches the network
TodoWrite, EnterPlanMode, Task, Agent              ``think``    plans, or delegates to a
                                                                subagent whose own tool
                                                                calls are asked about one
                                                                by one
ExitPlanMode, AskUserQuestion, ``mcp__*``, others  ``other``    leaving plan mode starts
                                                                changes; MCP tools can do
                                                                anything; unknown tools
                                                                are not assumed harmless
=================================================  ===========  ==========================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aegis.events import PlanEntry, ToolKind

TOOL_KINDS: dict[str, ToolKind] = {
    **dict.fromkeys(("Read", "NotebookRead", "LS", "ListAgents"), ToolKind.read),
    **dict.fromkeys(("Glob", "Grep", "ToolSearch"), ToolKind.search),
    **dict.fromkeys(("Edit", "MultiEdit", "Write", "NotebookEdit"), ToolKind.edit),
    **dict.fromkeys(
        ("Bash", "BashOutput", "KillShell", "KillBash", "PowerShell"), ToolKind.execute
    ),
    **dict.fromkeys(("WebFetch", "WebSearch"), ToolKind.fetch),
    **dict.fromkeys(("TodoWrite", "EnterPlanMode", "Task", "Agent"), ToolKind.think),
}
"""Claude Code tool name → kind. Names not listed (MCP tools included) are ``other``."""

PATH_KEYS = ("file_path", "notebook_path", "path")
"""Input keys whose value is a file or folder the tool works on."""

_PLAN_STATUSES = frozenset({"pending", "in_progress", "completed"})


def tool_kind(name: str) -> ToolKind:
    """The kind of claude tool ``name`` (``other`` for MCP and unknown tools)."""
    return TOOL_KINDS.get(name, ToolKind.other)


def tool_paths(tool_input: Mapping[str, Any]) -> tuple[str, ...]:
    """The files a call's input names (``file_path``, ``notebook_path``, ``path``)."""
    return tuple(
        value for key in PATH_KEYS if isinstance(value := tool_input.get(key), str) and value
    )


def tool_title(name: str, tool_input: Mapping[str, Any]) -> str:
    """A one-line human title for a call: the command's description, the file, the URL."""
    for key in ("description", "command", *PATH_KEYS, "url", "query", "pattern", "prompt"):
        value = tool_input.get(key)
        if isinstance(value, str) and value.strip():
            first_line = value.strip().splitlines()[0]
            return f"{name}: {first_line[:120]}"
    return name


def plan_entries(tool_input: Mapping[str, Any]) -> tuple[PlanEntry, ...] | None:
    """The plan a ``TodoWrite`` call sets, or ``None`` when its input holds no todo list."""
    todos = tool_input.get("todos")
    if not isinstance(todos, list):
        return None
    entries: list[PlanEntry] = []
    for todo in todos:
        if not isinstance(todo, Mapping) or not isinstance(todo.get("content"), str):
            continue
        status = todo.get("status")
        entries.append(
            PlanEntry(
                content=todo["content"],
                status=status if status in _PLAN_STATUSES else "pending",
                priority=str(todo.get("priority") or "medium"),
            )
        )
    return tuple(entries)
