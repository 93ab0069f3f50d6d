"""A tiny, deliberately unruly ACP agent for the driver's robustness tests.

Plain blocking Python, independent of aegis's own JSON-RPC code. The prompt text
chooses what it does:

``garbage``      prints a banner, invalid UTF-8, a 20 MB non-JSON line and a 20 MB
                 message chunk, then ends the turn normally
``die``          says something on stderr, sends a chunk, and exits with code 3
``api error``    answers the prompt with a JSON-RPC error, as gemini does for a 400
``stubborn``     sends a chunk, then ignores session/cancel and never answers
anything else    replies ``ok: <text>`` in two chunks

``FAKE_AGENT_START`` changes the start: ``exit`` (dies before answering),
``version`` (claims ACP version 2), ``mute`` (never answers initialize). It offers
no MCP at all (empty ``agentCapabilities``). With ``FAKE_AGENT_LOG`` set, the
``session/new`` parameters it got are appended to that file as JSON lines.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

BIG = 20 << 20


def send(message: dict[str, Any]) -> None:
    sys.stdout.buffer.write(json.dumps(message).encode() + b"\n")
    sys.stdout.buffer.flush()


def raw(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def chunk(session_id: str, text: str) -> None:
    update = {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": text}}
    send(
        {
            "jsonrpc": "2.0",
            "method": "session/update",
            "params": {"sessionId": session_id, "update": update},
        }
    )


def main() -> None:
    start = os.environ.get("FAKE_AGENT_START", "")
    for line in sys.stdin.buffer:
        message = json.loads(line)
        method, params, rid = message.get("method"), message.get("params") or {}, message.get("id")
        if method == "initialize":
            if start == "exit":
                sys.stderr.write("fatal: no credentials configured\n")
                sys.stderr.flush()
                sys.exit(2)
            if start == "mute":
                continue
            version = 2 if start == "version" else 1
            send(
                {
                    "jsonrpc": "2.0",
                    "id": rid,
                    "result": {"protocolVersion": version, "agentCapabilities": {}},
                }
            )
        elif method == "session/new":
            if os.environ.get("FAKE_AGENT_LOG"):
                with open(os.environ["FAKE_AGENT_LOG"], "a", encoding="utf-8") as log:
                    log.write(json.dumps(params) + "\n")
            send({"jsonrpc": "2.0", "id": rid, "result": {"sessionId": "fake-1"}})
        elif method == "session/prompt":
            text = params["prompt"][-1]["text"]
            sid = params["sessionId"]
            if text == "garbage":
                raw(b"Loaded cached credentials.\n")
                raw(b"\xff\xfe\x00 broken \x80\n")
                raw(b"x" * BIG + b"\n")
                chunk(sid, "y" * BIG)
                send({"jsonrpc": "2.0", "id": rid, "result": {"stopReason": "end_turn"}})
            elif text == "die":
                sys.stderr.write("panic: the fake agent crashed\n")
                sys.stderr.flush()
                chunk(sid, "about to die")
                os._exit(3)
            elif text == "api error":
                send(
                    {
                        "jsonrpc": "2.0",
                        "id": rid,
                        "error": {
                            "code": 400,
                            "message": "Request failed",
                            "data": {"details": "API Error: 400 context too long"},
                        },
                    }
                )
            elif text == "stubborn":
                chunk(sid, "working on it")
                time.sleep(3600)
            else:
                chunk(sid, "ok: ")
                chunk(sid, text)
                send({"jsonrpc": "2.0", "id": rid, "result": {"stopReason": "end_turn"}})
        elif rid is not None:
            send(
                {
                    "jsonrpc": "2.0",
                    "id": rid,
                    "error": {"code": -32601, "message": f"Method not found: {method}"},
                }
            )


if __name__ == "__main__":
    main()
