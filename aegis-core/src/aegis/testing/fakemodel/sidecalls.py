"""Recognise the housekeeping requests a CLI sends besides real turns, and answer them.

Side calls are answered here and kept out of ``FakeModelServer.requests``, so a test's
script only sees (and counts) the turns the user asked for.

Seen on the wire with the pinned versions:

- opencode asks for a session title before its first turn (system prompt "You are a title
  generator...", no tools, streamed).
- gemini without ``-m`` asks its router (non-streamed ``:generateContent`` on a flash-lite
  model, ``responseJsonSchema`` with ``complexity_reasoning`` / ``complexity_score``).

Found in the CLIs' code but not triggered by the headless modes the tests use; they are
recognised by the same marks so a test never mistakes one for a turn:

- claude's quota probe (``max_tokens: 1``, one user message ``"quota"``), its tool-free
  helpers that ask for a JSON schema (session title, ...) and its tool-use summary label;
- gemini's other JSON utilities (next-speaker check, loop detection, ...), all of which send
  a ``responseJsonSchema``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ._types import ModelRequest, Reply

TITLE = "Fake session title"

# Answers that steer each CLI's utility the harmless way (simple task, the user speaks next,
# no loop); every other field of a requested schema gets a placeholder value.
_JSON_ANSWERS: dict[str, Any] = {
    "complexity_reasoning": "The fake model calls every request simple.",
    "complexity_score": 10,
    "next_speaker": "user",
    "reasoning": "The fake model has nothing to add.",
    "unproductive_state_analysis": "No loop.",
    "unproductive_state_confidence": 0.0,
    "title": TITLE,
}

_CLAUDE_TOOL_SUMMARY = "summary label describing what these tool calls accomplished"


def classify(request: ModelRequest) -> str | None:
    """The kind of side call ``request`` is, or ``None`` for a real turn."""
    if request.api == "openai":
        return "title" if "title generator" in request.system.lower() else None
    schema = response_schema(request)
    if request.api == "gemini":
        if schema is None:
            return None
        properties = schema.get("properties") or {}
        if "complexity_score" in properties:
            return "router"
        if "next_speaker" in properties:
            return "next_speaker"
        if "unproductive_state_confidence" in properties:
            return "loop_check"
        return "json"
    if request.raw.get("max_tokens") == 1 and request.user_text == "quota":
        return "quota"
    if schema is not None:
        return "title" if "title" in (schema.get("properties") or {}) else "json"
    if not request.tools and _CLAUDE_TOOL_SUMMARY in request.system:
        return "tool_summary"
    return None


def reply(kind: str, request: ModelRequest) -> Reply:
    """The canned answer to a side call of ``kind``."""
    schema = response_schema(request)
    if schema is not None:
        return Reply(text=json.dumps(example_for(schema)))
    if kind == "title":
        return Reply(text=TITLE)
    if kind == "tool_summary":
        return Reply(text="Ran a command")
    return Reply(text="ok")


def response_schema(request: ModelRequest) -> Mapping[str, Any] | None:
    """The JSON schema a request asks its answer to follow, if any."""
    raw = request.raw
    if request.api == "gemini":
        config = raw.get("generationConfig") or {}
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
    else:
        fmt = raw.get("output_format") or (raw.get("output_config") or {}).get("format")
        schema = fmt.get("schema") if isinstance(fmt, dict) else None
    return schema if isinstance(schema, dict) else None


def example_for(schema: Mapping[str, Any], name: str = "") -> Any:
    """A value that satisfies ``schema`` (the subset of JSON schema the CLIs use)."""
    if name in _JSON_ANSWERS:
        return _JSON_ANSWERS[name]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = str(schema.get("type", "object")).lower()
    if kind == "object":
        properties: Mapping[str, Any] = schema.get("properties") or {}
        return {key: example_for(sub, key) for key, sub in properties.items()}
    if kind == "array":
        return [example_for(schema.get("items") or {"type": "string"})]
    return {"string": "fake", "integer": 0, "number": 0.0, "boolean": False}.get(kind)
