"""What the MCP plane's tests share: a running runtime of fake agents, and MCP clients.

The agents are the in-process fake provider of the session tests (through the
queue tests' ``fake_workers`` fixture: ``hold`` waits for the driver's
``release``); each fake driver keeps the :class:`SessionOptions` it was opened
with, so a test reads the MCP server (URL and bearer token) the plane gave that
session and calls the plane as that session's agent would, with the official
SDK's streamable-HTTP client.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from aegis.config import Agent
from aegis.config.loader import Project
from aegis.driver import McpServer
from aegis.events import Event, UserMessage
from aegis.queue import Queue
from aegis.runtime import Runtime
from aegis.workflow import WorkflowEngine, WorkflowError, workflow
from aegis.workflow import registry as workflow_registry
from tests.queue.fakes import POLL
from tests.session.fake_provider import Fake, FakeDriver

AGENTS = {"lead": Agent(provider=Fake()), "helper": Agent(provider=Fake())}
WORKERS = {"worker": Agent(provider=Fake())}


def make_project(root: Path, *queues: Queue) -> Project:
    root.mkdir(parents=True, exist_ok=True)
    (root / ".aegis.py").write_text("# the MCP plane's tests build the project in Python\n")
    return Project(
        path=root / ".aegis.py",
        agents={**AGENTS, **WORKERS},
        default_agent="lead",
        queues={q.name: q for q in queues},
    )


@asynccontextmanager
async def running(root: Path, *queues: Queue, mcp: bool = True) -> AsyncIterator[Runtime]:
    """A runtime of fake agents on ``root``, polling fast."""
    runtime = Runtime(make_project(root, *queues), mcp=mcp)
    runtime.inbox.poll_interval = POLL
    runtime.queues.poll_interval = POLL
    async with runtime:
        yield runtime


@dataclass
class Spawned:
    """A session, with the fake driver standing in for its agent."""

    handle: str
    driver: FakeDriver

    @property
    def server(self) -> McpServer:
        [server] = self.driver.options.mcp_servers
        return server

    @property
    def token(self) -> str:
        return self.server.headers["Authorization"].removeprefix("Bearer ")

    def prompts_from(self, sender_line: str) -> list[str]:
        return [p for p in self.driver.prompts if p.startswith(sender_line)]


async def spawn(
    runtime: Runtime,
    profile: str = "lead",
    handle: str | None = None,
    resume: str | None = None,
) -> Spawned:
    handle = await runtime.sessions.spawn(profile, handle, resume=resume)
    driver = FakeDriver.instances[-1]
    return Spawned(handle, driver)


@asynccontextmanager
async def connect(
    url: str, headers: dict[str, str] | None = None, *, mode: str = "legacy"
) -> AsyncIterator[Client]:
    """An MCP client of the official SDK, as an agent's CLI would connect.

    ``mode="legacy"`` is the initialize handshake the CLIs use; ``"auto"`` is the
    SDK's default (a newer protocol revision when the server has it).
    """
    async with (
        httpx2.AsyncClient(headers=headers or {}) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        yield client


@asynccontextmanager
async def as_agent(spawned: Spawned, *, mode: str = "legacy") -> AsyncIterator[Client]:
    """A client connected to the plane with ``spawned``'s own token."""
    async with connect(spawned.server.url, dict(spawned.server.headers), mode=mode) as client:
        yield client


def user_messages(
    events: MemoryObjectReceiveStream[tuple[str, Event]],
) -> list[tuple[str, UserMessage]]:
    """The ``(handle, message)`` of every message delivered so far; closes ``events``."""
    found: list[tuple[str, UserMessage]] = []
    with events:
        while True:
            try:
                handle, event = events.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream):
                return found
            if isinstance(event, UserMessage):
                found.append((handle, event))


def text(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def ok(result: CallToolResult) -> dict[str, Any]:
    """The structured result of a successful call (fails the test on an error result)."""
    assert not result.is_error, text(result)
    assert isinstance(result.structured_content, dict)
    # The text content carries the same, for clients that read only text.
    assert json.loads(text(result)) == result.structured_content
    return result.structured_content


def error(result: CallToolResult) -> str:
    """The message of an error result (fails the test on a success)."""
    assert result.is_error, f"expected an error, got {text(result)}"
    return text(result)


def handoff_line(handle: str, profile: str = "lead") -> str:
    return f"Message from agent {handle} (profile {profile}), sent with aegis_handoff:"


@pytest.fixture
def mcp_test_workflows() -> Iterator[list[str | None]]:
    """Workflows for ``aegis_run_workflow``; yields the caller handle each greet run saw."""
    seen: list[str | None] = []

    @workflow
    async def mcp_test_greet(engine: WorkflowEngine, name: str, times: int = 1) -> str:
        """Greet someone, a number of times.

        The rest of this docstring is not part of the summary."""
        seen.append(engine.caller_handle)
        return f"hello {name} x{times}"

    @workflow
    async def mcp_test_refuse(engine: WorkflowEngine) -> None:
        """Always fails."""
        raise WorkflowError("refused on purpose")

    @workflow
    async def mcp_test_crash(engine: WorkflowEngine) -> None:
        """Always crashes."""
        raise ZeroDivisionError("oops")

    yield seen
    for name in ("mcp_test_greet", "mcp_test_refuse", "mcp_test_crash"):
        workflow_registry._project.pop(name, None)
