"""The ACP client against an in-process fake agent: handshake, permissions, file access."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from aegis.acp.client import (
    RESOURCE_NOT_FOUND,
    AcpClient,
    permission_outcome,
)
from aegis.acp.jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, JsonRpcConnection, JsonRpcError
from aegis.config.enums import Permission
from aegis.driver import McpServer
from aegis.events import ToolKind
from tests.acp.pipes import Pipe

pytestmark = pytest.mark.anyio

# gemini 0.61 offers "always" options before "once": choosing by position would be wrong.
GEMINI_OPTIONS = [
    {"optionId": "proceed_always_server", "name": "Allow all server tools", "kind": "allow_always"},
    {"optionId": "proceed_always_tool", "name": "Allow tool", "kind": "allow_always"},
    {"optionId": "proceed_once", "name": "Allow", "kind": "allow_once"},
    {"optionId": "cancel", "name": "Reject", "kind": "reject_once"},
]


@dataclass
class FakeAgent:
    """The agent's end: records what the client sent, asks what a test wants."""

    connection: JsonRpcConnection | None = None
    requests: list[tuple[str, Any]] = field(default_factory=list)
    notifications: list[tuple[str, Any]] = field(default_factory=list)
    notified: anyio.Event = field(default_factory=anyio.Event)

    async def on_request(self, method: str, params: Any) -> Any:
        self.requests.append((method, params))
        if method == "initialize":
            return {"protocolVersion": 1, "agentCapabilities": {"loadSession": True}}
        if method == "session/new":
            return {"sessionId": "s1"}
        raise JsonRpcError.method_not_found(method)

    async def on_notification(self, method: str, params: Any) -> None:
        self.notifications.append((method, params))
        self.notified.set()

    async def ask(self, method: str, params: dict[str, Any]) -> Any:
        assert self.connection is not None
        return await self.connection.request(method, params)

    async def permission(self, tool_call: dict[str, Any], options: Any = None) -> Any:
        answer = await self.ask(
            "session/request_permission",
            {"sessionId": "s1", "toolCall": tool_call, "options": options or GEMINI_OPTIONS},
        )
        return answer["outcome"]


@asynccontextmanager
async def session(
    cwd: Path,
    permission: Permission = Permission.auto,
    client_class: type[AcpClient] = AcpClient,
    mcp_servers: tuple[McpServer, ...] = (),
) -> AsyncIterator[tuple[AcpClient, FakeAgent]]:
    """A client with a session ``s1`` in ``cwd``, talking to a :class:`FakeAgent`."""
    to_agent, to_client = Pipe(), Pipe()
    updates: list[tuple[str, dict[str, Any]]] = []
    client = client_class(
        to_agent.write,
        permission=permission,
        on_update=lambda s, u: updates.append((s, u)),
        mcp_servers=mcp_servers,
    )
    agent = FakeAgent()
    agent.connection = JsonRpcConnection(
        to_client.write, on_request=agent.on_request, on_notification=agent.on_notification
    )
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.serve, to_client.lines())
            tg.start_soon(agent.connection.serve, to_agent.lines())
            await client.initialize()
            await client.new_session(cwd)
            yield client, agent
            tg.cancel_scope.cancel()


async def test_the_handshake_offers_files_not_terminals_and_mcp_in_the_http_shape(
    tmp_path: Path,
) -> None:
    async with session(tmp_path) as (client, agent):
        server = McpServer("aegis", "http://127.0.0.1:9/mcp", {"Authorization": "Bearer t"})
        await client.new_session(tmp_path, [server])
    (method, init), _, (_, new) = agent.requests
    assert method == "initialize"
    assert init["protocolVersion"] == 1
    assert init["clientCapabilities"] == {
        "fs": {"readTextFile": True, "writeTextFile": True},
        "terminal": False,
    }
    assert init["clientInfo"]["name"] == "aegis"
    assert new == {
        "cwd": str(tmp_path),
        "mcpServers": [
            {
                "type": "http",
                "name": "aegis",
                "url": "http://127.0.0.1:9/mcp",
                "headers": [{"name": "Authorization", "value": "Bearer t"}],
            }
        ],
    }
    assert client.agent_capabilities == {"loadSession": True}


ALLOWED = {
    Permission.read: {ToolKind.read, ToolKind.search, ToolKind.think},
    Permission.write: {ToolKind.read, ToolKind.search, ToolKind.think, ToolKind.edit},
    Permission.full: set(ToolKind),
    Permission.auto: {ToolKind.read, ToolKind.search, ToolKind.think},
}


@pytest.mark.parametrize("permission", list(Permission))
async def test_permission_requests_are_answered_by_the_tools_kind(
    tmp_path: Path, permission: Permission
) -> None:
    answers = {}
    async with session(tmp_path, permission) as (_, agent):
        for kind in ("read", "edit", "delete", "execute", "fetch", "other"):
            outcome = await agent.permission({"toolCallId": f"c-{kind}", "kind": kind})
            answers[kind] = outcome
    for kind, outcome in answers.items():
        canonical = ToolKind.edit if kind == "delete" else ToolKind(kind)
        expected = "proceed_once" if canonical in ALLOWED[permission] else "cancel"
        assert outcome == {"outcome": "selected", "optionId": expected}, (permission, kind)


async def test_a_permission_request_without_kind_takes_the_kind_of_the_announced_call(
    tmp_path: Path,
) -> None:
    async with session(tmp_path, Permission.write) as (_, agent):
        assert agent.connection is not None
        await agent.connection.notify(
            "session/update",
            {
                "sessionId": "s1",
                "update": {
                    "sessionUpdate": "tool_call",
                    "toolCallId": "c1",
                    "title": "edit a.py",
                    "kind": "edit",
                    "status": "pending",
                },
            },
        )
        announced = await agent.permission({"toolCallId": "c1", "title": "edit a.py"})
        unknown = await agent.permission({"toolCallId": "c2", "title": "mystery"})
    assert announced == {"outcome": "selected", "optionId": "proceed_once"}
    assert unknown == {"outcome": "selected", "optionId": "cancel"}


async def test_tools_of_a_trusted_mcp_server_are_allowed_even_read_only(tmp_path: Path) -> None:
    servers = (
        McpServer("aegis", "http://127.0.0.1:1/mcp", trusted=True),
        McpServer("other", "http://127.0.0.1:2/mcp"),
    )
    async with session(tmp_path, Permission.read, mcp_servers=servers) as (_, agent):
        gemini = await agent.permission({"toolCallId": "mcp_aegis_aegis_handoff__1"})
        opencode = await agent.permission({"toolCallId": "c9", "title": "aegis_aegis_meta"})
        untrusted = await agent.permission({"toolCallId": "mcp_other_delete__2"})
    assert gemini == {"outcome": "selected", "optionId": "proceed_once"}
    assert opencode == {"outcome": "selected", "optionId": "proceed_once"}
    assert untrusted == {"outcome": "selected", "optionId": "cancel"}


def test_the_option_is_chosen_by_kind_with_fallbacks() -> None:
    always_only = [
        {"optionId": "yes-always", "kind": "allow_always"},
        {"optionId": "no-always", "kind": "reject_always"},
    ]
    assert permission_outcome(always_only, True) == {
        "outcome": "selected",
        "optionId": "yes-always",
    }
    assert permission_outcome(always_only, False) == {
        "outcome": "selected",
        "optionId": "no-always",
    }
    assert permission_outcome([{"optionId": "x", "kind": "reject_once"}], True) == {
        "outcome": "cancelled"
    }
    assert permission_outcome([], False) == {"outcome": "cancelled"}


async def test_after_cancel_open_and_new_permission_requests_are_answered_cancelled(
    tmp_path: Path,
) -> None:
    class SlowDecider(AcpClient):
        asked = anyio.Event()

        async def decide_permission(self, session_id: str, tool_call: Any, kind: ToolKind) -> bool:
            self.asked.set()
            await anyio.sleep_forever()
            return True

    async with session(tmp_path, Permission.full, SlowDecider) as (client, agent):
        assert isinstance(client, SlowDecider)
        outcomes: list[Any] = []

        async def ask() -> None:
            outcomes.append(await agent.permission({"toolCallId": "c", "kind": "execute"}))

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask)
            await client.asked.wait()
            await client.cancel("s1")
        await agent.notified.wait()
        after = await agent.permission({"toolCallId": "d", "kind": "execute"})
    assert outcomes == [{"outcome": "cancelled"}]
    assert after == {"outcome": "cancelled"}
    assert agent.notifications == [("session/cancel", {"sessionId": "s1"})]


async def test_files_are_read_and_written_inside_the_working_directory(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("one\ntwo\nthree\nfour\n")
    async with session(work, Permission.write) as (_, agent):
        whole = await agent.ask(
            "fs/read_text_file", {"sessionId": "s1", "path": str(work / "notes.txt")}
        )
        part = await agent.ask(
            "fs/read_text_file",
            {"sessionId": "s1", "path": str(work / "notes.txt"), "line": 2, "limit": 2},
        )
        written = await agent.ask(
            "fs/write_text_file",
            {"sessionId": "s1", "path": str(work / "new" / "out.txt"), "content": "hello"},
        )
    assert whole == {"content": "one\ntwo\nthree\nfour\n"}
    assert part == {"content": "two\nthree\n"}
    assert written == {}
    assert (work / "new" / "out.txt").read_text() == "hello"


async def test_files_outside_the_working_directory_are_refused(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    (work / "link").symlink_to(secret)
    (work / "dirlink").symlink_to(tmp_path)
    attempts = [
        ("fs/read_text_file", {"path": str(secret)}),
        ("fs/read_text_file", {"path": str(work / ".." / "secret.txt")}),
        ("fs/read_text_file", {"path": str(work / "link")}),
        ("fs/write_text_file", {"path": str(work / "dirlink" / "secret.txt"), "content": "x"}),
        ("fs/write_text_file", {"path": str(tmp_path / "planted.txt"), "content": "x"}),
    ]
    errors = []
    async with session(work, Permission.full) as (_, agent):
        for method, params in attempts:
            with pytest.raises(JsonRpcError) as caught:
                await agent.ask(method, {"sessionId": "s1", **params})
            errors.append(caught.value)
    assert all(e.code == INVALID_PARAMS and "outside" in e.message for e in errors), errors
    assert secret.read_text() == "top secret"
    assert not (tmp_path / "planted.txt").exists()


async def test_file_errors_say_what_went_wrong(tmp_path: Path) -> None:
    async with session(tmp_path, Permission.read) as (_, agent):
        with pytest.raises(JsonRpcError) as missing:
            await agent.ask("fs/read_text_file", {"sessionId": "s1", "path": str(tmp_path / "no")})
        with pytest.raises(JsonRpcError) as read_only:
            await agent.ask(
                "fs/write_text_file",
                {"sessionId": "s1", "path": str(tmp_path / "a.txt"), "content": "x"},
            )
        with pytest.raises(JsonRpcError) as other_session:
            await agent.ask("fs/read_text_file", {"sessionId": "s9", "path": str(tmp_path)})
        with pytest.raises(JsonRpcError) as terminal:
            await agent.ask("terminal/create", {"sessionId": "s1", "command": "ls"})
    assert missing.value.code == RESOURCE_NOT_FOUND
    assert read_only.value.code == INVALID_PARAMS and "permission 'read'" in read_only.value.message
    assert not (tmp_path / "a.txt").exists()
    assert "unknown session" in other_session.value.message
    assert terminal.value.code == METHOD_NOT_FOUND
