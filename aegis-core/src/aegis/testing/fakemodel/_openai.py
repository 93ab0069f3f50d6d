"""The OpenAI chat completions API (opencode via ``@ai-sdk/openai-compatible``)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from ._types import ModelRequest, Reply, ToolResult, split_chunks
from ._wire import JSON, Codec, input_tokens, json_pieces, output_tokens, sse, text_of

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit"}


def parse(body: Mapping[str, Any], path: str) -> ModelRequest:
    """Normalise a chat completions request."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    names = {
        str(call.get("id")): str((call.get("function") or {}).get("name"))
        for m in messages
        if m.get("role") == "assistant"
        for call in m.get("tool_calls") or []
        if isinstance(call, dict)
    }
    # Tool results are separate "tool" messages after the assistant's last message.
    tail: list[JSON] = []
    for message in reversed(messages):
        if message.get("role") in ("assistant", "system", "developer"):
            break
        tail.insert(0, message)
    results = tuple(
        ToolResult(
            tool_id=str(m.get("tool_call_id")),
            name=names.get(str(m.get("tool_call_id"))),
            output=text_of(m.get("content")),
        )
        for m in tail
        if m.get("role") == "tool"
    )
    # opencode keeps a failed or cancelled prompt in the history as an unanswered user
    # message; only the newest one is this turn's text.
    last = tail[-1] if tail else {}
    user_text = text_of(last.get("content")) if last.get("role") == "user" else ""
    functions = [
        t["function"]
        for t in body.get("tools") or []
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    ]
    return ModelRequest(
        api="openai",
        user_text=user_text,
        tool_results=results,
        tools=tuple(str(f.get("name")) for f in functions),
        system="\n".join(
            text_of(m.get("content")) for m in messages if m.get("role") in ("system", "developer")
        ),
        model=str(body.get("model", "")),
        raw=body,
        path=path,
        prompts=tuple(
            t for m in messages if m.get("role") == "user" and (t := text_of(m.get("content")))
        ),
        tool_schemas={str(f.get("name")): f.get("parameters") or {} for f in functions},
        stream=bool(body.get("stream", False)),
    )


def _usage(reply: Reply, request: ModelRequest) -> JSON:
    prompt, output = input_tokens(reply, request), output_tokens(reply)
    return {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output}


def _finish(reply: Reply) -> str:
    return "tool_calls" if reply.tool_calls else "stop"


def stream(reply: Reply, request: ModelRequest) -> Iterator[bytes]:
    """Chat completion chunks, a usage chunk and ``[DONE]``."""
    head = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": request.model,
    }

    def chunk(delta: JSON, finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return sse({**head, "choices": [choice]})

    yield chunk({"role": "assistant", "content": ""})
    for piece in split_chunks(reply.thinking or "", reply.chunks):
        yield chunk({"reasoning_content": piece})
    for piece in split_chunks(reply.text, reply.chunks):
        yield chunk({"content": piece})
    for index, call in enumerate(reply.tool_calls):
        opening = {
            "index": index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        yield chunk({"tool_calls": [opening]})
        for piece in json_pieces(call.arguments):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, _finish(reply))
    yield sse({**head, "choices": [], "usage": _usage(reply, request)})
    yield sse("[DONE]")


def complete(reply: Reply, request: ModelRequest) -> JSON:
    """A non-streamed chat completion."""
    message: JSON = {"role": "assistant", "content": reply.text or None}
    if reply.thinking:
        message["reasoning_content"] = reply.thinking
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(dict(c.arguments))},
            }
            for c in reply.tool_calls
        ]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model,
        "choices": [{"index": 0, "message": message, "finish_reason": _finish(reply)}],
        "usage": _usage(reply, request),
    }


def error_body(status: int, message: str) -> JSON:
    """The OpenAI error envelope."""
    return {
        "error": {
            "message": message,
            "type": _ERROR_TYPES.get(status, "server_error"),
            "param": None,
            "code": None,
        }
    }


CODEC = Codec(parse=parse, stream=stream, complete=complete, error_body=error_body)
