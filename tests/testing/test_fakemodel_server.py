"""The fake model server on its own: wire formats, scripts, side calls, robustness."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from aegis.testing.fakemodel import (
    FakeModelServer,
    ModelRequest,
    Reply,
    Script,
    ToolCall,
    mcp_call,
    shell_call,
)

ANTHROPIC = "/v1/messages?beta=true"
GEMINI = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
OPENAI = "/v1/chat/completions"


def _post(server: FakeModelServer, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
    request = urllib.request.Request(
        server.url + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _events(raw: bytes) -> list[tuple[str | None, Any]]:
    """Parse an SSE body into (event name, decoded data) pairs."""
    out: list[tuple[str | None, Any]] = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        name, data = None, ""
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data = line[len("data: ") :]
        out.append((name, data if data == "[DONE]" else json.loads(data)))
    return out


def _anthropic_text(events: list[tuple[str | None, Any]]) -> str:
    return "".join(
        data["delta"]["text"]
        for name, data in events
        if name == "content_block_delta" and data["delta"]["type"] == "text_delta"
    )


def _anthropic_body(text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-x",
        "stream": True,
        "max_tokens": 100,
        "system": [{"type": "text", "text": "sys"}],
        "tools": [{"name": "Bash", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def _openai_body(messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    tools = [{"type": "function", "function": {"name": "bash", "parameters": {}}}]
    return {"model": "m1", "stream": True, "messages": messages, "tools": tools, **extra}


def _gemini_body(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "contents": [{"role": "user", "parts": parts}],
        "tools": [{"functionDeclarations": [{"name": "run_shell_command"}]}],
    }


def test_anthropic_stream_has_text_then_tool_use_blocks(server: FakeModelServer) -> None:
    server.script = Script().on(
        "hi",
        Reply(text="a b c d", thinking="hmm", tool_calls=[ToolCall("Bash", {"command": "ls"})]),
    )
    status, raw = _post(server, ANTHROPIC, _anthropic_body())
    events = _events(raw)

    assert status == 200
    names = [name for name, _ in events]
    assert names[0] == "message_start"
    assert names[-2:] == ["message_delta", "message_stop"]
    starts = [
        data["content_block"]["type"] for name, data in events if name == "content_block_start"
    ]
    assert starts == ["thinking", "text", "tool_use"]
    assert _anthropic_text(events) == "a b c d"
    arguments = "".join(
        d["delta"]["partial_json"]
        for n, d in events
        if n == "content_block_delta" and d["delta"]["type"] == "input_json_delta"
    )
    assert json.loads(arguments) == {"command": "ls"}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert events[-2][1]["usage"]["output_tokens"] > 0


def test_anthropic_request_is_normalised(server: FakeModelServer) -> None:
    body = _anthropic_body()
    body["messages"] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "<system-reminder>ctx</system-reminder>"},
                {"type": "text", "text": "first"},
            ],
        },
        {"role": "system", "content": "environment"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "content": [{"type": "text", "text": "out"}],
                }
            ],
        },
    ]
    status, raw = _post(server, ANTHROPIC, body)

    request = server.requests[0]
    assert status == 200
    assert request.user_text == ""
    assert request.prompts == ("first",)
    assert request.tool_results[0].name == "Bash"
    assert request.tool_results[0].output == "out"
    assert request.system == "sys"
    assert request.tools == ("Bash",)
    assert _anthropic_text(_events(raw)) == "tool said: out"


def test_gemini_stream_ends_with_finish_reason_and_usage(server: FakeModelServer) -> None:
    server.script = Script().on("go", lambda r: Reply(text="x y", tool_calls=[shell_call(r, "ls")]))
    status, raw = _post(
        server,
        GEMINI,
        _gemini_body([{"text": "<session_context>env</session_context>"}, {"text": "go"}]),
    )
    chunks = [data for _, data in _events(raw)]

    assert status == 200
    assert server.requests[0].user_text == "go"
    assert server.requests[0].model == "gemini-2.5-flash"
    parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    assert "".join(p.get("text", "") for p in parts) == "x y"
    assert parts[-1]["functionCall"]["name"] == "run_shell_command"
    assert parts[-1]["functionCall"]["args"] == {"command": "ls"}
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["totalTokenCount"] > 0


def test_gemini_function_response_is_a_tool_result(server: FakeModelServer) -> None:
    _post(
        server,
        GEMINI,
        _gemini_body(
            [
                {
                    "functionResponse": {
                        "id": "c1",
                        "name": "run_shell_command",
                        "response": {"output": "done"},
                    }
                }
            ]
        ),
    )

    assert server.requests[0].tool_results[0].output == "done"


def test_openai_stream_has_tool_call_fragments_usage_and_done(server: FakeModelServer) -> None:
    server.script = Script().on(
        "go", Reply(tool_calls=[ToolCall("bash", {"command": "ls"}, id="c1")])
    )
    status, raw = _post(server, OPENAI, _openai_body([{"role": "user", "content": "go"}]))
    events = [data for _, data in _events(raw)]

    assert status == 200
    assert events[-1] == "[DONE]"
    assert events[-2]["choices"] == []
    assert events[-2]["usage"]["total_tokens"] > 0
    assert events[-3]["choices"][0]["finish_reason"] == "tool_calls"
    calls = [c for e in events[:-2] for c in e["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[0]["id"] == "c1"
    assert calls[0]["function"]["name"] == "bash"
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) == {"command": "ls"}


def test_openai_tool_messages_are_tool_results(server: FakeModelServer) -> None:
    _post(
        server,
        OPENAI,
        _openai_body(
            [
                {"role": "user", "content": "go"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "bash", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "listing"},
            ]
        ),
    )

    result = server.requests[0].tool_results[0]
    assert (result.tool_id, result.name, result.output) == ("c1", "bash", "listing")


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        (
            ANTHROPIC,
            _anthropic_body(),
            {"type": "error", "error": {"type": "invalid_request_error"}},
        ),
        (
            GEMINI,
            _gemini_body([{"text": "hi"}]),
            {"error": {"code": 400, "status": "INVALID_ARGUMENT"}},
        ),
        (
            OPENAI,
            _openai_body([{"role": "user", "content": "hi"}]),
            {"error": {"type": "invalid_request_error"}},
        ),
    ],
)
def test_error_status_uses_the_vendor_error_body(
    server: FakeModelServer, path: str, body: dict[str, Any], expected: dict[str, Any]
) -> None:
    server.script = Script().on("hi", Reply(error_status=400, error_message="nope"))
    status, raw = _post(server, path, body)
    answer = json.loads(raw)

    assert status == 400
    assert _contains(answer, expected)


def _contains(actual: Any, expected: Any) -> bool:
    """Whether ``actual`` holds everything in ``expected`` (dicts compared as subsets)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and _contains(actual[key], value) for key, value in expected.items()
        )
    return bool(actual == expected)


def test_side_calls_are_answered_and_not_counted(server: FakeModelServer) -> None:
    title = [
        {"role": "system", "content": "You are a title generator. Output a title."},
        {"role": "user", "content": "hello"},
    ]
    _, raw = _post(server, OPENAI, _openai_body(title))
    router = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {
            "responseMimeType": "application/json",
            "responseJsonSchema": {
                "type": "OBJECT",
                "properties": {
                    "complexity_reasoning": {"type": "STRING"},
                    "complexity_score": {"type": "INTEGER"},
                },
            },
        },
    }
    _, routed = _post(server, "/v1beta/models/flash-lite:generateContent", router)
    _, counted = _post(server, "/v1/messages/count_tokens", _anthropic_body())
    quota = _anthropic_body("quota", max_tokens=1, stream=False)
    _post(server, ANTHROPIC, quota)

    assert server.requests == []
    assert len(server.side_requests) == 4
    title_text = "".join(
        data["choices"][0]["delta"].get("content", "")
        for _, data in _events(raw)
        if isinstance(data, dict) and data["choices"]
    )
    assert title_text == "Fake session title"
    answer = json.loads(json.loads(routed)["candidates"][0]["content"]["parts"][0]["text"])
    assert set(answer) == {"complexity_reasoning", "complexity_score"}
    assert json.loads(counted)["input_tokens"] > 0
    assert [e.kind for e in server.log] == ["title", "router", "count_tokens", "quota"]


def test_model_listings_answer_get(server: FakeModelServer) -> None:
    with urllib.request.urlopen(server.url + "/v1/models", timeout=5) as response:
        assert json.load(response)["data"][0]["id"] == "fake-model"
    with urllib.request.urlopen(server.url + "/v1beta/models", timeout=5) as response:
        assert json.load(response)["models"][0]["name"] == "models/fake-model"


def test_script_rules_order_once_and_predicates() -> None:
    def request(text: str) -> ModelRequest:
        return ModelRequest("openai", text, (), ("bash",), "", "m", {})

    script = (
        Script()
        .on("hello", "first hello", once=True)
        .on("hello", lambda r: Reply(text=f"again {r.user_text}"))
        .on(lambda r: r.user_text.startswith("x"), "predicate")
    )

    assert script.reply_for(request("hello")).text == "first hello"
    assert script.reply_for(request("hello")).text == "again hello"
    assert script.reply_for(request("xyz")).text == "predicate"
    assert script.reply_for(request("other")).text == "echo: other"


def test_helpers_pick_each_clis_tool_names() -> None:
    def offering(*tools: str) -> ModelRequest:
        return ModelRequest("anthropic", "", (), tools, "", "m", {})

    assert shell_call(offering("Read", "Bash"), "ls").arguments == {
        "command": "ls",
        "description": "Run ls",
    }
    assert shell_call(offering("run_shell_command"), "ls").arguments == {"command": "ls"}
    assert shell_call(offering("bash"), "ls").name == "bash"
    with pytest.raises(LookupError):
        shell_call(offering("Read"), "ls")
    assert mcp_call(offering("mcp__aegis__ask"), "aegis", "ask", {"q": 1}).name == (
        "mcp__aegis__ask"
    )
    assert mcp_call(offering("mcp_aegis_ask"), "aegis", "ask").name == "mcp_aegis_ask"
    assert mcp_call(offering("aegis_ask"), "aegis", "ask").name == "aegis_ask"


def test_client_disconnect_mid_stream_is_quiet(
    server: FakeModelServer, capfd: pytest.CaptureFixture[str]
) -> None:
    server.script = Script().on("slow", Reply(text="a b c d e f", chunks=6, chunk_delay=0.2))
    body = json.dumps(_anthropic_body("slow")).encode()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(
            b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        assert sock.recv(100).startswith(b"HTTP/1.0 200")
    deadline = time.monotonic() + 5
    while not server.disconnects and time.monotonic() < deadline:
        time.sleep(0.05)

    assert server.disconnects == [ANTHROPIC.split("?")[0]]
    assert "Traceback" not in capfd.readouterr().err
    assert _post(server, ANTHROPIC, _anthropic_body())[0] == 200


def test_delay_holds_the_first_byte(server: FakeModelServer) -> None:
    server.script = Script().on("wait", Reply(text="late", delay=0.3))
    started = time.monotonic()
    _post(server, ANTHROPIC, _anthropic_body("wait"))

    assert time.monotonic() - started >= 0.3


def test_wait_for_requests_times_out(server: FakeModelServer) -> None:
    with pytest.raises(TimeoutError):
        server.wait_for_requests(1, timeout=0.1)


def test_only_the_newest_unanswered_prompt_is_user_text(server: FakeModelServer) -> None:
    # opencode keeps a failed prompt in its history as an unanswered user message.
    _post(
        server,
        OPENAI,
        _openai_body([{"role": "user", "content": "failed"}, {"role": "user", "content": "retry"}]),
    )

    assert server.requests[0].user_text == "retry"
    assert server.requests[0].prompts == ("failed", "retry")


def test_disconnect_during_delay_is_noticed_at_once(server: FakeModelServer) -> None:
    server.script = Script().on("slow", Reply(text="late", delay=30))
    body = json.dumps(_anthropic_body("slow")).encode()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(
            b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        server.wait_for_requests(1)
    started = time.monotonic()

    server.wait_for_disconnects(1, timeout=5)
    assert time.monotonic() - started < 2


def test_a_failing_responder_is_recorded_and_answered_500(server: FakeModelServer) -> None:
    server.script = Script().on("boom", lambda r: Reply(tool_calls=[shell_call(r, "ls")]))
    status, _ = _post(
        server,
        OPENAI,
        {"model": "m1", "stream": True, "messages": [{"role": "user", "content": "boom"}]},
    )

    assert status == 500
    assert "no shell tool" in server.errors[0]
