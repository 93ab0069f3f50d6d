"""The Gemini API (gemini CLI): ``POST /v1beta/models/MODEL:streamGenerateContent?alt=sse``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from ._types import ModelRequest, Reply, ToolResult, split_chunks
from ._wire import JSON, Codec, input_tokens, output_tokens, sse

_MODEL_IN_PATH = re.compile(r"/models/([^/:?]+)")

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def model_from_path(path: str) -> str:
    """The model name in a ``/v1beta/models/MODEL:method`` path."""
    found = _MODEL_IN_PATH.search(path)
    return found.group(1) if found else ""


# gemini opens the first user message with an environment block in its own part; it is
# not what the user typed, so it must not take part in rule matching.
_SESSION_CONTEXT = re.compile(r"^\s*<session_context>.*</session_context>\s*$", re.DOTALL)


def _texts(parts: Any) -> list[str]:
    return [
        str(p["text"])
        for p in parts or []
        if isinstance(p, dict)
        and "text" in p
        and not p.get("thought")
        and not _SESSION_CONTEXT.match(str(p["text"]))
    ]


def _response_text(response: Any) -> str:
    # The CLI wraps tool output as {"output": "..."} or {"error": "..."}; keep anything else
    # readable as JSON.
    if isinstance(response, dict):
        for key in ("output", "error", "content"):
            if isinstance(response.get(key), str):
                return str(response[key])
    return json.dumps(response)


def _system(body: Mapping[str, Any]) -> str:
    value = body.get("systemInstruction") or body.get("system_instruction")
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(_texts(value.get("parts")))
    return ""


def parse(body: Mapping[str, Any], path: str) -> ModelRequest:
    """Normalise a generateContent / streamGenerateContent request."""
    contents: list[Any] = [c for c in body.get("contents") or [] if isinstance(c, dict)]
    prompts = [
        "\n".join(t)
        for c in contents
        if c.get("role", "user") == "user" and (t := _texts(c.get("parts")))
    ]
    last = contents[-1] if contents and contents[-1].get("role", "user") == "user" else {}
    parts = [p for p in last.get("parts") or [] if isinstance(p, dict)]
    results = tuple(
        ToolResult(
            tool_id=str(fr.get("id") or ""),
            name=fr.get("name"),
            output=_response_text(fr.get("response")),
            is_error=isinstance(fr.get("response"), dict) and "error" in fr["response"],
        )
        for p in parts
        if isinstance(fr := p.get("functionResponse"), dict)
    )
    declarations = [
        d
        for tool in body.get("tools") or []
        if isinstance(tool, dict)
        for d in tool.get("functionDeclarations") or []
        if isinstance(d, dict) and "name" in d
    ]
    return ModelRequest(
        api="gemini",
        user_text="\n".join(_texts(parts)),
        tool_results=results,
        tools=tuple(str(d["name"]) for d in declarations),
        system=_system(body),
        model=model_from_path(path),
        raw=body,
        path=path,
        prompts=tuple(prompts),
        tool_schemas={
            str(d["name"]): d.get("parametersJsonSchema") or d.get("parameters") or {}
            for d in declarations
        },
        stream=":streamGenerateContent" in path,
    )


def _usage(reply: Reply, request: ModelRequest) -> JSON:
    prompt, output = input_tokens(reply, request), output_tokens(reply)
    return {
        "promptTokenCount": prompt,
        "candidatesTokenCount": output,
        "totalTokenCount": prompt + output,
    }


def _response(parts: list[JSON], request: ModelRequest, finish: JSON | None = None) -> JSON:
    candidate: JSON = {"content": {"role": "model", "parts": parts}, "index": 0}
    body: JSON = {"candidates": [candidate], "modelVersion": request.model}
    if finish:
        candidate["finishReason"] = "STOP"
        body["usageMetadata"] = finish
    return body


def _call_parts(reply: Reply) -> list[JSON]:
    return [
        {"functionCall": {"id": c.id, "name": c.name, "args": dict(c.arguments)}}
        for c in reply.tool_calls
    ]


def stream(reply: Reply, request: ModelRequest) -> Iterator[bytes]:
    """``data:`` lines of GenerateContentResponse; the last carries finishReason and usage."""
    pieces: list[list[JSON]] = [
        [{"text": t, "thought": True}] for t in split_chunks(reply.thinking or "", reply.chunks)
    ]
    pieces += [[{"text": t}] for t in split_chunks(reply.text, reply.chunks)]
    # Gemini sends a function call whole, in one part, never as argument fragments.
    pieces += [[part] for part in _call_parts(reply)]
    if not pieces:
        pieces = [[{"text": ""}]]
    for piece in pieces[:-1]:
        yield sse(_response(piece, request))
    yield sse(_response(pieces[-1], request, _usage(reply, request)))


def complete(reply: Reply, request: ModelRequest) -> JSON:
    """A non-streamed GenerateContentResponse."""
    parts: list[JSON] = []
    if reply.thinking:
        parts.append({"text": reply.thinking, "thought": True})
    if reply.text or not reply.tool_calls:
        parts.append({"text": reply.text})
    parts += _call_parts(reply)
    return _response(parts, request, _usage(reply, request))


def error_body(status: int, message: str) -> JSON:
    """The Google API error envelope."""
    return {
        "error": {
            "code": status,
            "message": message,
            "status": _STATUS_NAMES.get(status, "UNKNOWN"),
        }
    }


CODEC = Codec(parse=parse, stream=stream, complete=complete, error_body=error_body)
