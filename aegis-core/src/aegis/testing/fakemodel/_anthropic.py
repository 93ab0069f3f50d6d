"""The Anthropic Messages API (claude): ``POST /v1/messages``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from ._types import ModelRequest, Reply, ToolResult, split_chunks
from ._wire import JSON, Codec, input_tokens, json_pieces, output_tokens, sse, text_of

# Claude Code adds context to user messages as separate text blocks wrapped in this tag;
# they are not what the user typed, so they must not take part in rule matching.
_REMINDER = re.compile(r"^\s*<system-reminder>.*</system-reminder>\s*$", re.DOTALL)

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def _user_texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [] if _REMINDER.match(content) else [content]
    texts: list[str] = []
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "text":
            text = str(block.get("text", ""))
            if not _REMINDER.match(text):
                texts.append(text)
    return texts


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def parse(body: Mapping[str, Any], path: str) -> ModelRequest:
    """Normalise a Messages API request."""
    messages: list[Any] = list(body.get("messages") or [])
    names: dict[str, str] = {}
    prompts: list[str] = []
    for message in messages:
        content = message.get("content")
        if message.get("role") == "assistant" and isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_use":
                    names[str(block.get("id"))] = str(block.get("name"))
        elif message.get("role") == "user":
            text = "\n".join(_user_texts(content))
            if text:
                prompts.append(text)
    # What came after the model's last answer is this turn's input. Claude Code may put a
    # role "system" message (its environment block) after the user's first message, so the
    # last message is not necessarily the user's.
    tail: list[Any] = []
    for message in reversed(messages):
        if message.get("role") == "assistant":
            break
        tail.insert(0, message)
    blocks = [
        block
        for message in tail
        if message.get("role") == "user"
        for block in _blocks(message.get("content"))
    ]
    # A failed prompt may stay in the history as an unanswered user message; only the
    # newest one is this turn's text.
    last_user: dict[str, Any] = next((m for m in reversed(tail) if m.get("role") == "user"), {})
    results = tuple(
        ToolResult(
            tool_id=str(block.get("tool_use_id")),
            name=names.get(str(block.get("tool_use_id"))),
            output=text_of(block.get("content")),
            is_error=bool(block.get("is_error", False)),
        )
        for block in blocks
        if block.get("type") == "tool_result"
    )
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and "name" in t]
    return ModelRequest(
        api="anthropic",
        user_text="\n".join(_user_texts(last_user.get("content"))),
        tool_results=results,
        tools=tuple(str(t["name"]) for t in tools),
        system=text_of(body.get("system")),
        model=str(body.get("model", "")),
        raw=body,
        path=path,
        prompts=tuple(prompts),
        tool_schemas={str(t["name"]): t.get("input_schema") or {} for t in tools},
        stream=bool(body.get("stream", False)),
    )


def _usage(reply: Reply, request: ModelRequest, output: int) -> JSON:
    return {
        "input_tokens": input_tokens(reply, request),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output,
    }


def _stop_reason(reply: Reply) -> str:
    return "tool_use" if reply.tool_calls else "end_turn"


def _message(reply: Reply, request: ModelRequest, content: list[JSON], output: int) -> JSON:
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": content,
        "stop_reason": None,
        "stop_sequence": None,
        "usage": _usage(reply, request, output),
    }


def stream(reply: Reply, request: ModelRequest) -> Iterator[bytes]:
    """The SSE events of a streamed reply, in the order the real API sends them."""
    yield sse(
        {"type": "message_start", "message": _message(reply, request, [], 1)}, "message_start"
    )
    index = 0

    def block(start: JSON, deltas: list[JSON]) -> Iterator[bytes]:
        yield sse(
            {"type": "content_block_start", "index": index, "content_block": start},
            "content_block_start",
        )
        for delta in deltas:
            yield sse(
                {"type": "content_block_delta", "index": index, "delta": delta},
                "content_block_delta",
            )
        yield sse({"type": "content_block_stop", "index": index}, "content_block_stop")

    if reply.thinking:
        deltas: list[JSON] = [
            {"type": "thinking_delta", "thinking": piece}
            for piece in split_chunks(reply.thinking, reply.chunks)
        ]
        deltas.append({"type": "signature_delta", "signature": "fake-signature"})
        yield from block({"type": "thinking", "thinking": "", "signature": ""}, deltas)
        index += 1
    if reply.text or not reply.tool_calls:
        deltas = [
            {"type": "text_delta", "text": piece}
            for piece in split_chunks(reply.text, reply.chunks)
        ]
        yield from block({"type": "text", "text": ""}, deltas)
        index += 1
    for call in reply.tool_calls:
        deltas = [
            {"type": "input_json_delta", "partial_json": piece}
            for piece in json_pieces(call.arguments)
        ]
        start = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
        yield from block(start, deltas)
        index += 1
    yield sse(
        {
            "type": "message_delta",
            "delta": {"stop_reason": _stop_reason(reply), "stop_sequence": None},
            "usage": _usage(reply, request, output_tokens(reply)),
        },
        "message_delta",
    )
    yield sse({"type": "message_stop"}, "message_stop")


def complete(reply: Reply, request: ModelRequest) -> JSON:
    """A non-streamed Messages API response."""
    content: list[JSON] = []
    if reply.thinking:
        content.append(
            {"type": "thinking", "thinking": reply.thinking, "signature": "fake-signature"}
        )
    if reply.text or not reply.tool_calls:
        content.append({"type": "text", "text": reply.text})
    content.extend(
        {"type": "tool_use", "id": c.id, "name": c.name, "input": dict(c.arguments)}
        for c in reply.tool_calls
    )
    message = _message(reply, request, content, output_tokens(reply))
    message["stop_reason"] = _stop_reason(reply)
    return message


def error_body(status: int, message: str) -> JSON:
    """The Anthropic error envelope."""
    kind = _ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


CODEC = Codec(parse=parse, stream=stream, complete=complete, error_body=error_body)
