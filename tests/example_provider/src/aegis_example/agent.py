"""``example-agent``: a small coding agent that speaks ACP on stdin and stdout.

It stands for the CLI a provider drives. It knows nothing of aegis: it is an ACP
agent (newline-delimited JSON-RPC 2.0, protocol version 1) whose model is any
OpenAI-compatible chat completions endpoint, configured by its environment:

``EXAMPLE_AGENT_BASE_URL``
    the endpoint's base URL, e.g. ``http://127.0.0.1:8000/v1`` (plain HTTP here);
``EXAMPLE_AGENT_API_KEY``
    sent as a bearer token;
``EXAMPLE_AGENT_MODEL``
    the model to ask (``--model`` overrides it).

It offers the model one tool of its own, ``shell`` (``{"command"}``, run with
``/bin/sh`` in the session's folder) and the tools of the session's MCP servers
(streamable HTTP), named ``<server>_<tool>``. It keeps each session's conversation
in ``~/.example-agent/sessions/`` so that ``session/load`` can resume it, and it
ends a turn at once on ``session/cancel``. Standard library only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sys
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROTOCOL_VERSION = 1
RESOURCE_NOT_FOUND = -32002
INTERNAL_ERROR = -32603
SHELL_TOOL = {
    "type": "function",
    "function": {
        "name": "shell",
        "description": "Run a shell command in the project folder; returns its output.",
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "string"}},
            "required": ["command"],
        },
    },
}


class RpcError(Exception):
    """An error to answer a JSON-RPC request with."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class Session:
    """One conversation: its folder, its MCP servers and its messages."""

    def __init__(self, session_id: str, cwd: str, mcp_servers: list[dict[str, Any]]) -> None:
        self.id = session_id
        self.cwd = cwd
        self.mcp = {server["name"]: McpClient(server) for server in mcp_servers}
        self.messages: list[dict[str, Any]] = []
        self.turn: asyncio.Task[dict[str, Any]] | None = None

    @property
    def file(self) -> Path:
        return Path.home() / ".example-agent" / "sessions" / f"{self.id}.json"

    def save(self) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        self.file.write_text(json.dumps(self.messages))


class Agent:
    """The ACP side: answers the client's requests, sends it ``session/update``s."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.sessions: dict[str, Session] = {}
        self.base_url = os.environ.get("EXAMPLE_AGENT_BASE_URL", "http://127.0.0.1:8000/v1")
        self.api_key = os.environ.get("EXAMPLE_AGENT_API_KEY", "")

    # --- ACP methods --------------------------------------------------------------------

    async def initialize(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "protocolVersion": PROTOCOL_VERSION,
            "agentCapabilities": {"loadSession": True, "mcpCapabilities": {"http": True}},
            "agentInfo": {"name": "example-agent", "version": "0.1.0"},
            "authMethods": [],
        }

    async def session_new(self, params: dict[str, Any]) -> dict[str, Any]:
        session = Session(uuid.uuid4().hex, params["cwd"], params.get("mcpServers", []))
        self.sessions[session.id] = session
        return {"sessionId": session.id}

    async def session_load(self, params: dict[str, Any]) -> dict[str, Any]:
        session = Session(params["sessionId"], params["cwd"], params.get("mcpServers", []))
        if not re.fullmatch(r"[0-9a-f]{32}", session.id) or not session.file.exists():
            raise RpcError(RESOURCE_NOT_FOUND, f"no session {session.id!r} to load")
        session.messages = json.loads(session.file.read_text())
        self.sessions[session.id] = session
        # ACP: replay the conversation as updates before answering.
        for message in session.messages:
            kind = {"user": "user_message_chunk", "assistant": "agent_message_chunk"}
            if message["role"] in kind and message.get("content"):
                await self.text(session, kind[message["role"]], message["content"])
        return {}

    async def session_prompt(self, params: dict[str, Any]) -> dict[str, Any]:
        session = self.sessions[params["sessionId"]]
        text = "\n\n".join(b["text"] for b in params["prompt"] if b.get("type") == "text")
        session.turn = asyncio.create_task(self.run_turn(session, text))
        try:
            return await session.turn
        except asyncio.CancelledError:
            return {"stopReason": "cancelled"}
        finally:
            session.turn = None

    async def session_cancel(self, params: dict[str, Any]) -> None:
        session = self.sessions.get(params["sessionId"])
        if session is not None and session.turn is not None:
            session.turn.cancel()

    # --- a turn ---------------------------------------------------------------------------

    async def run_turn(self, session: Session, text: str) -> dict[str, Any]:
        """Ask the model until it answers without tool calls; keep the turn if it ends."""
        messages = [*session.messages, {"role": "user", "content": text}]
        tools = [SHELL_TOOL]
        for client in session.mcp.values():
            tools += await asyncio.to_thread(client.tools)
        used = {"inputTokens": 0, "outputTokens": 0}
        while True:
            answer = await self.ask_model(messages, tools)
            usage = answer.get("usage") or {}
            used["inputTokens"] += usage.get("prompt_tokens", 0)
            used["outputTokens"] += usage.get("completion_tokens", 0)
            message = answer["choices"][0]["message"]
            messages.append(message)
            if message.get("content"):
                await self.text(session, "agent_message_chunk", message["content"])
            calls = message.get("tool_calls") or []
            if not calls:
                break
            for call in calls:
                output = await self.call_tool(session, call)
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": output})
        session.messages = messages
        session.save()
        used["totalTokens"] = used["inputTokens"] + used["outputTokens"]
        return {"stopReason": "end_turn", "usage": used}

    async def ask_model(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> dict[str, Any]:
        body = {"model": self.model, "messages": messages, "tools": tools, "stream": False}
        status, answer = await post_json(f"{self.base_url}/chat/completions", body, self.api_key)
        if status != 200:
            error = answer.get("error") if isinstance(answer, dict) else None
            message = error.get("message") if isinstance(error, dict) else str(answer)
            raise RpcError(INTERNAL_ERROR, f"model API error {status}: {message}")
        return dict(answer)

    async def call_tool(self, session: Session, call: dict[str, Any]) -> str:
        name = call["function"]["name"]
        arguments = json.loads(call["function"].get("arguments") or "{}")
        update = {
            "sessionUpdate": "tool_call",
            "toolCallId": call["id"],
            "title": arguments.get("command", name) if name == "shell" else name,
            "kind": "execute" if name == "shell" else "other",
            "status": "in_progress",
            "rawInput": arguments,
            "_meta": {"toolName": name},
        }
        await self.notify_update(session, update)
        try:
            if name == "shell":
                output = await run_shell(arguments["command"], session.cwd)
            else:
                server, _, tool = name.partition("_")
                output = await asyncio.to_thread(session.mcp[server].call, tool, arguments)
            status = "completed"
        except Exception as exc:
            output, status = f"error: {exc}", "failed"
        content = [{"type": "content", "content": {"type": "text", "text": output}}]
        await self.notify_update(
            session,
            {
                "sessionUpdate": "tool_call_update",
                "toolCallId": call["id"],
                "status": status,
                "content": content,
            },
        )
        return output

    # --- talking to the client --------------------------------------------------------

    async def text(self, session: Session, kind: str, text: str) -> None:
        await self.notify_update(
            session, {"sessionUpdate": kind, "content": {"type": "text", "text": text}}
        )

    async def notify_update(self, session: Session, update: dict[str, Any]) -> None:
        send({"jsonrpc": "2.0", "method": "session/update", "params": {
            "sessionId": session.id, "update": update}})  # fmt: skip

    async def handle(self, message: dict[str, Any]) -> None:
        method = str(message.get("method", ""))
        handler = getattr(self, method.replace("/", "_"), None)
        try:
            if handler is None:
                raise RpcError(-32601, f"Method not found: {method}")
            result = await handler(message.get("params") or {})
            reply: dict[str, Any] = {"result": result}
        except RpcError as exc:
            reply = {"error": {"code": exc.code, "message": str(exc)}}
        except Exception as exc:
            reply = {"error": {"code": INTERNAL_ERROR, "message": f"{type(exc).__name__}: {exc}"}}
        if "id" in message:
            send({"jsonrpc": "2.0", "id": message["id"], **reply})


async def run_shell(command: str, cwd: str) -> str:
    """Run ``command``; its output. It stays in the agent's process group, so that
    whoever stops the agent's group stops what the command left behind too."""
    process = await asyncio.create_subprocess_shell(
        command,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await process.communicate()
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        raise
    return output.decode(errors="replace")


async def post_json(url: str, body: dict[str, Any], token: str) -> tuple[int, Any]:
    """POST ``body`` over plain HTTP with asyncio, so that a cancelled turn hangs up."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
    try:
        data = json.dumps(body).encode()
        head = (
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + data)
        await writer.drain()
        response = await reader.read()
    finally:
        writer.close()
    header, _, payload = response.partition(b"\r\n\r\n")
    status = int(header.split()[1])
    return status, json.loads(payload or b"null")


class McpClient:
    """A blocking client of one streamable-HTTP MCP server (run in a thread)."""

    def __init__(self, server: dict[str, Any]) -> None:
        self.name = server["name"]
        self.url = server["url"]
        self.headers = {h["name"]: h["value"] for h in server.get("headers", [])}
        self.session: str | None = None
        self.ids = 0

    def request(self, method: str, params: dict[str, Any]) -> Any:
        if self.session is None and method != "initialize":
            self.request("initialize", {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "example-agent", "version": "0.1.0"}})  # fmt: skip
            self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        self.ids += 1
        answer = self.post({"jsonrpc": "2.0", "id": self.ids, "method": method, "params": params})
        if "error" in answer:
            raise RuntimeError(answer["error"].get("message", "MCP error"))
        return answer["result"]

    def post(self, message: dict[str, Any]) -> dict[str, Any]:
        headers = {
            **self.headers,
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        }
        if self.session is not None:
            headers["Mcp-Session-Id"] = self.session
        request = urllib.request.Request(self.url, json.dumps(message).encode(), headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            self.session = response.headers.get("Mcp-Session-Id", self.session)
            text = response.read().decode()
        # The answer is JSON, or an event stream whose data lines hold it.
        for line in text.splitlines():
            if line.startswith("data:"):
                return dict(json.loads(line[5:]))
        return dict(json.loads(text)) if text.strip() else {}

    def tools(self) -> list[dict[str, Any]]:
        listed = self.request("tools/list", {})["tools"]
        return [
            {
                "type": "function",
                "function": {
                    "name": f"{self.name}_{tool['name']}",
                    "description": tool.get("description", ""),
                    "parameters": tool.get("inputSchema", {"type": "object"}),
                },
            }
            for tool in listed
        ]

    def call(self, tool: str, arguments: dict[str, Any]) -> str:
        result = self.request("tools/call", {"name": tool, "arguments": arguments})
        return "\n".join(c.get("text", "") for c in result.get("content", []))


def send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def serve(agent: Agent) -> None:
    """Read requests from stdin until it closes; each runs in a task of its own."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks: set[asyncio.Task[None]] = set()
    while line := await reader.readline():
        if line.strip():
            task = asyncio.create_task(agent.handle(json.loads(line)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    for task in tasks:
        task.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description="A small ACP coding agent.")
    parser.add_argument("--model", default=os.environ.get("EXAMPLE_AGENT_MODEL", "example"))
    parser.add_argument("--version", action="version", version="example-agent 0.1.0")
    args = parser.parse_args()
    asyncio.run(serve(Agent(args.model)))


if __name__ == "__main__":
    main()
