"""The provider conformance suite: what every aegis provider must do, against its real CLI.

A provider package runs it by subclassing :class:`ProviderConformance` in one of its
test modules and saying how to run its CLI against the kit's fake model::

    from aegis.config import Agent
    from aegis.testing import isolated_env
    from aegis.testing.conformance import CliSetup, ProviderConformance
    from aegis_mycli.config import MyCli


    class TestMyCliConformance(ProviderConformance):
        provider = "mycli"  # the registered provider name
        shell_tool = "shell"  # the CLI's shell tool, as the model is offered it

        def environment(self, setup: CliSetup) -> dict[str, str]:
            env = isolated_env(setup.home)
            env["MYCLI_BASE_URL"] = f"{setup.model.url}/v1"
            return env

        def profile(self, setup: CliSetup) -> Agent:
            return Agent(provider=MyCli(model="fake-model", permission="full"))

Every test of the suite then runs (nothing is skipped): two turns on one session, a
shell tool round trip as canonical events, an MCP tool call reaching an MCP server with
its token, an interrupted turn ending ``cancelled`` with the next turn clean, a session
resumed in a new process, a clear failure to resume an unknown session, a model API
error, the CLI killed mid-turn, and no process left after a session.

The sessions the suite needs are all started at once when the class begins (a CLI takes
0.5 to 2 seconds to start), each with a home and a project folder of its own; the tests
of plain turns share one. The fake model answers the prompts of :class:`Prompts` as
:meth:`ProviderConformance.script` says; a CLI that calls no model (aegis's offline
``scripted`` agent) sets ``uses_fake_model = False`` and answers them itself, and the
suite then checks only what the session emitted and did.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
import pytest

from aegis.driver import Driver, McpServer, SessionOptions
from aegis.errors import DriverError
from aegis.events import (
    AssistantMessage,
    Error,
    SessionStarted,
    StopReason,
    TextDelta,
    ToolCall,
    ToolKind,
    ToolResult,
    TurnEnd,
    Usage,
)
from aegis.testing.fakemodel import (
    FakeModelServer,
    ModelRequest,
    Reply,
    Script,
    mcp_tool_name,
    shell_call,
)
from aegis.testing.fakemodel import ToolCall as ModelToolCall
from aegis.testing.fakemodel import Usage as ModelUsage
from aegis.testing.mcp_server import McpTestServer
from aegis.testing.processes import group_members, wait_gone
from aegis.testing.recorder import Recorder

if TYPE_CHECKING:
    from aegis.config import Agent

__all__ = [
    "MCP_TOKEN",
    "TURN_TIMEOUT",
    "CliSetup",
    "ConformanceSession",
    "Prompts",
    "ProviderConformance",
    "held_open",
]

TURN_TIMEOUT = 60.0
"""Seconds any one step may take before the suite calls it a hang (never a speed check)."""


class Prompts:
    """The prompts of the suite, and what the fake model (or an offline agent) answers."""

    HELLO = "hello one"
    """Answered ``echo: hello one`` (the fake model's default)."""
    COUNTED = "counted hello two"
    """Answered :data:`COUNTED_REPLY`, reporting 1234 input and 56 output tokens."""
    COUNTED_REPLY = "counted reply"
    SHELL = "please run the echo"
    """Answered with a shell tool call running :data:`SHELL_COMMAND`, then the tool's
    output (``tool said: hi-from-the-shell``)."""
    SHELL_COMMAND = "echo hi-from-the-shell"
    SHELL_OUTPUT = "hi-from-the-shell"
    MCP = "record a note please"
    """Answered with a call of the MCP server ``test``'s tool ``record`` with
    :data:`MCP_NOTE`, then its output (``tool said: recorded: from-the-agent``)."""
    MCP_NOTE = "from-the-agent"
    SLOW = "talk slowly"
    """Answered only after 30 seconds: the turn to interrupt or to kill the CLI in."""
    AFTER_INTERRUPT = "hello after the interrupt"
    """Answered :data:`AFTER_INTERRUPT_REPLY`. (A CLI may fold the interrupted prompt
    into this one, so it is matched before :data:`SLOW`.)"""
    AFTER_INTERRUPT_REPLY = "clean answer"
    FAIL = "fail please"
    """Answered with an HTTP 400 whose message is :data:`FAIL_MESSAGE`."""
    FAIL_MESSAGE = "the fake model refuses: quota exceeded for this test"
    REMEMBER = "remember the word banana"
    RECALL = "which word was it?"
    SLEEPER = "start a sleeper"
    """Answered with a shell tool call running :data:`SLEEPER_COMMAND`: a background
    ``sleep`` that outlives the command and writes its pid to ``sleeper.pid``."""
    SLEEPER_COMMAND = "(sleep 300 > /dev/null 2>&1 & echo $! > sleeper.pid)"


MCP_TOKEN = "conformance-mcp-token"
"""The bearer token the test MCP server requires (aegis passes it in the headers)."""


@dataclass(frozen=True)
class CliSetup:
    """Where one session of the suite runs: given to the provider's configuration."""

    model: FakeModelServer
    """The fake model, at ``model.url`` (``http://127.0.0.1:PORT``)."""
    home: Path
    """A folder of this session's own for the CLI's ``HOME`` and state (it exists)."""
    project: Path
    """The session's working directory (it exists)."""
    name: str
    """Which session of the suite this is (``shared``, ``resume``, ``error``...)."""


@dataclass
class ConformanceSession:
    """One session of the suite, held open by a task of its own until :meth:`close`.

    A driver's ``async with`` must end in the task that entered it, so each session runs
    in a task; a test ends it (and its process) with :meth:`close`.
    """

    setup: CliSetup
    driver: Driver
    recorder: Recorder
    started: SessionStarted | None = None
    failure: DriverError | None = None
    close_asked: anyio.Event = field(default_factory=anyio.Event)
    closed: anyio.Event = field(default_factory=anyio.Event)

    async def run(self, ready: anyio.Event) -> None:
        """Enter the driver, start it, and hold it until :meth:`close`."""
        try:
            async with self.driver:
                try:
                    self.started = await self.driver.start()
                except DriverError as exc:
                    # Nothing more to do with it: stop the CLI now, not at the class's end.
                    self.failure = exc
                    return
                ready.set()
                await self.close_asked.wait()
        finally:
            ready.set()
            self.closed.set()

    async def close(self) -> None:
        """End the session now, as leaving its ``async with`` does."""
        self.close_asked.set()
        await self.closed.wait()

    def ready(self) -> ConformanceSession:
        """This session, asserting that it started."""
        assert self.started is not None, f"the {self.setup.name} session failed: {self.failure}"
        return self

    async def turn(self, text: str) -> tuple[TurnEnd, Recorder]:
        """Send ``text``; the turn's end and a recorder of the turn's events alone."""
        mark = self.recorder.mark()
        with anyio.fail_after(TURN_TIMEOUT):
            end = await self.driver.prompt(text)
        return end, Recorder(self.recorder.since(mark))

    @property
    def pid(self) -> int:
        """The pid of the CLI process (its process group's id too)."""
        process = getattr(self.driver, "process", None)
        assert process is not None, "the driver has no running process"
        return int(process.pid)


@asynccontextmanager
async def held_open(
    sessions: Iterable[ConformanceSession], timeout: float = 120.0
) -> AsyncIterator[None]:
    """Start ``sessions`` at once, each in a task of its own; close them all at the end.

    Entered once every session started or failed to (within ``timeout`` seconds).
    """
    sessions = list(sessions)
    async with anyio.create_task_group() as tg:
        readiness = []
        for session in sessions:
            ready = anyio.Event()
            readiness.append(ready)
            tg.start_soon(session.run, ready)
        try:
            with anyio.fail_after(timeout):
                for ready in readiness:
                    await ready.wait()
            yield
        finally:
            for session in sessions:
                session.close_asked.set()


_SESSIONS: dict[str, dict[str, Any]] = {
    "shared": {"mcp": True},
    "resume": {},
    "unknown": {"resume": "unknown"},
    "error": {},
    "killed": {},
    "sleeper": {"mcp": True},
}
"""The sessions the suite starts at once, by name: which get the MCP server or resume."""


class ProviderConformance:
    """The conformance suite; subclass it as ``Test...`` in a provider's tests.

    Set :attr:`provider` and :attr:`shell_tool`, implement :meth:`environment` and
    :meth:`profile`; override the other hooks only for a CLI's quirks.
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.anyio]

    provider: ClassVar[str]
    """The registered name of the provider under test."""
    shell_tool: ClassVar[str]
    """The name of the CLI's shell tool: as offered to the model and in ``ToolCall``."""
    uses_fake_model: ClassVar[bool] = True
    """Whether the CLI calls the fake model (``False``: it answers :class:`Prompts` itself)."""
    api_error_is_fatal: ClassVar[bool] = True
    """Whether a model API error ends the session (``True``) or only the turn."""
    unknown_session_id: ClassVar[str] = "0b5e8c1e-0000-4000-8000-000000000000"
    """A well-formed session id that the CLI has never seen."""
    start_timeout: ClassVar[float] = 120.0
    """Seconds all the suite's sessions may take to start together."""
    extra_sessions: ClassVar[tuple[str, ...]] = ()
    """Names of more sessions to start with the suite's, for a provider's own tests in
    the subclass (``conformance_sessions[name]``); :meth:`profile` sees the name in
    ``setup.name``, to give one a different profile."""

    # --- what a provider says -----------------------------------------------------------

    def environment(self, setup: CliSetup) -> dict[str, str]:
        """The CLI's environment, pointed at ``setup.model.url``, its home in ``setup.home``.

        It may write files the CLI reads (settings in the home, config in the project).
        """
        raise NotImplementedError("a conformance class must say how to run its CLI")

    def profile(self, setup: CliSetup) -> Agent:
        """The agent profile of a session: the provider's config with permission ``full``."""
        raise NotImplementedError("a conformance class must give an agent profile")

    def script(self) -> Script:
        """The fake model's answers to :class:`Prompts`."""
        shell = self.shell_tool

        def run(command: str, text: str = "") -> Any:
            return lambda r: Reply(text=text, tool_calls=[shell_call(r, command, tool=shell)])

        return (
            Script()
            .on(Prompts.COUNTED, Reply(text=Prompts.COUNTED_REPLY, usage=ModelUsage(1234, 56)))
            .on(Prompts.SHELL, run(Prompts.SHELL_COMMAND, "Running."))
            .on(Prompts.MCP, self._record_note)
            .on(Prompts.AFTER_INTERRUPT, Prompts.AFTER_INTERRUPT_REPLY)
            .on(Prompts.SLOW, Reply(text="too late", delay=30))
            .on(Prompts.FAIL, Reply(error_status=400, error_message=Prompts.FAIL_MESSAGE))
            .on(Prompts.SLEEPER, run(Prompts.SLEEPER_COMMAND))
        )

    def mcp_tool(self, request: ModelRequest, server: str, tool: str) -> str:
        """The name under which the CLI offers MCP tool ``tool`` of ``server`` to the model.

        By default the kit recognises ``mcp__S__T``, ``mcp_S_T`` and ``S_T``.
        """
        return mcp_tool_name(request, server, tool)

    def _record_note(self, request: ModelRequest) -> Reply:
        name = self.mcp_tool(request, "test", "record")
        return Reply(tool_calls=[ModelToolCall(name, {"note": Prompts.MCP_NOTE})])

    async def interrupted_turn(self, session: ConformanceSession, text: str) -> TurnEnd:
        """Send ``text`` (a slow turn), interrupt it once under way; the turn's end."""
        model, driver = setup_model(session), session.driver
        ends: list[TurnEnd] = []
        with anyio.fail_after(TURN_TIMEOUT):
            async with anyio.create_task_group() as tg:

                async def turn() -> None:
                    ends.append(await driver.prompt(text))

                requests, mark = len(model.requests), session.recorder.mark()
                tg.start_soon(turn)
                await self.wait_turn_underway(session, requests=requests, mark=mark)
                await driver.interrupt()
        [end] = ends
        return end

    def check_resumed(self, driver: Driver) -> None:
        """More checks of a resumed session's driver, after its first turn (for quirks)."""

    async def prepare_resume(self, setup: CliSetup, session_id: str) -> None:
        """Called between closing a session and resuming it (for a CLI's quirks)."""

    async def wait_turn_underway(
        self, session: ConformanceSession, *, requests: int, mark: int
    ) -> None:
        """Return once the slow turn is under way: by default, once the model was asked.

        ``requests`` is how many model requests there were before the prompt, ``mark``
        the position of the session's recorder then.
        """
        await anyio.to_thread.run_sync(
            setup_model(session).wait_for_requests, requests + 1, TURN_TIMEOUT
        )

    # --- the fixtures ---------------------------------------------------------------------

    @pytest.fixture(scope="class")
    def anyio_backend(self) -> str:
        """Class scope: the suite's sessions live as long as the class."""
        return "asyncio"

    @pytest.fixture(scope="class")
    def conformance_model(self) -> Iterator[FakeModelServer]:
        """The fake model of the suite, answering with :meth:`script`."""
        with FakeModelServer(self.script()) as server:
            yield server

    @pytest.fixture(scope="class")
    def conformance_mcp(self) -> Iterator[McpTestServer]:
        """The MCP server the sessions are given (as ``test``, with :data:`MCP_TOKEN`)."""
        with McpTestServer(token=MCP_TOKEN) as server:
            yield server

    @pytest.fixture(scope="class")
    async def conformance_sessions(
        self,
        conformance_model: FakeModelServer,
        conformance_mcp: McpTestServer,
        tmp_path_factory: pytest.TempPathFactory,
    ) -> AsyncIterator[dict[str, ConformanceSession]]:
        """Every session of the suite, started at once and closed when the class ends."""
        root = tmp_path_factory.mktemp(f"conformance-{self.provider}")
        sessions = {
            name: self.open_session(
                self.setup(conformance_model, root, name),
                mcp=conformance_mcp if spec.get("mcp") else None,
                resume=self.unknown_session_id if spec.get("resume") else None,
            )
            for name, spec in {**_SESSIONS, **{key: {} for key in self.extra_sessions}}.items()
        }
        async with held_open(sessions.values(), self.start_timeout):
            yield sessions

    def setup(self, model: FakeModelServer, root: Path, name: str) -> CliSetup:
        """A fresh home and project for session ``name`` under ``root``."""
        home, project = root / name / "home", root / name / "project"
        home.mkdir(parents=True, exist_ok=True)
        project.mkdir(parents=True, exist_ok=True)
        return CliSetup(model, home, project, name)

    def open_session(
        self,
        setup: CliSetup,
        *,
        mcp: McpTestServer | None = None,
        resume: str | None = None,
    ) -> ConformanceSession:
        """A session (not yet started) through the registered provider, as aegis opens one."""
        from aegis.registry import get_registry

        recorder = Recorder()
        env = self.environment(setup)
        servers: tuple[McpServer, ...] = (mcp.mcp_server("test"),) if mcp is not None else ()
        options = SessionOptions(
            cwd=setup.project, emit=recorder, env=env, mcp_servers=servers, resume=resume
        )
        provider = get_registry().get(self.provider).provider
        driver = provider.open_driver(self.profile(setup), options)
        return ConformanceSession(setup, driver, recorder)

    # --- the suite --------------------------------------------------------------------------

    async def test_two_turns_on_one_session(
        self, conformance_sessions: dict[str, ConformanceSession]
    ) -> None:
        session = conformance_sessions["shared"].ready()
        started = session.started
        assert started is not None and started.harness_session_id
        assert not started.resumed
        assert session.driver.harness_session_id == started.harness_session_id
        assert session.recorder.events[0] == started, "SessionStarted comes first"

        one, first = await session.turn(Prompts.HELLO)
        two, second = await session.turn(Prompts.COUNTED)

        assert (one.text, two.text) == (f"echo: {Prompts.HELLO}", Prompts.COUNTED_REPLY)
        assert one.stop_reason is two.stop_reason is StopReason.end_turn
        for events, end in ((first, one), (second, two)):
            assert "".join(d.text for d in events.of(TextDelta)) == end.text, "text streams"
            assert events.of(AssistantMessage) == [AssistantMessage(end.text)]
            [usage] = events.of(Usage)
            assert usage.input_tokens > 0 and usage.output_tokens > 0
            assert events.events[-1] == end, "TurnEnd ends the turn"
        if self.uses_fake_model:
            last = setup_model(session).requests[-1]
            assert last.prompts[-2:] == (Prompts.HELLO, Prompts.COUNTED), "one conversation"
        assert session.driver.failed is None

    async def test_a_shell_tool_call_round_trips_as_canonical_events(
        self, conformance_sessions: dict[str, ConformanceSession]
    ) -> None:
        session = conformance_sessions["shared"].ready()
        end, events = await session.turn(Prompts.SHELL)

        [call] = events.of(ToolCall)
        assert (call.name, call.kind) == (self.shell_tool, ToolKind.execute)
        [result] = events.of(ToolResult)
        assert result.id == call.id and result.ok
        assert Prompts.SHELL_OUTPUT in result.output
        order = [type(e) for e in events.events]
        assert order.index(ToolCall) < order.index(ToolResult) < order.index(TurnEnd)
        assert end.ok and Prompts.SHELL_OUTPUT in end.text
        if self.uses_fake_model:
            [answer] = setup_model(session).requests[-1].tool_results
            assert Prompts.SHELL_OUTPUT in answer.output, "the output went back to the model"

    async def test_an_mcp_tool_call_reaches_the_mcp_server_with_its_token(
        self,
        conformance_sessions: dict[str, ConformanceSession],
        conformance_mcp: McpTestServer,
    ) -> None:
        session = conformance_sessions["shared"].ready()
        before = len(conformance_mcp.calls)
        end, events = await session.turn(Prompts.MCP)

        [call] = events.of(ToolCall)
        assert "record" in call.name and "test" in call.name
        [result] = events.of(ToolResult)
        assert result.id == call.id and result.ok
        assert f"recorded: {Prompts.MCP_NOTE}" in result.output
        assert end.ok
        recorded = conformance_mcp.wait_for_calls(before + 1)[before]
        assert recorded.note == Prompts.MCP_NOTE
        assert recorded.headers["authorization"] == f"Bearer {MCP_TOKEN}"

    async def test_an_interrupted_turn_ends_cancelled_and_the_next_turn_is_clean(
        self, conformance_sessions: dict[str, ConformanceSession]
    ) -> None:
        session = conformance_sessions["shared"].ready()
        model, driver = setup_model(session), session.driver
        mark = session.recorder.mark()
        cancelled = await self.interrupted_turn(session, Prompts.SLOW)
        after, events = await session.turn(Prompts.AFTER_INTERRUPT)

        assert cancelled.stop_reason is StopReason.cancelled
        assert "too late" not in cancelled.text, "the turn ended before the model answered"
        assert after.ok and after.text == Prompts.AFTER_INTERRUPT_REPLY
        assert "".join(d.text for d in events.of(TextDelta)) == after.text
        assert session.recorder.of(TurnEnd, mark) == [cancelled, after]
        if self.uses_fake_model:
            await anyio.to_thread.run_sync(model.wait_for_disconnects, 1, TURN_TIMEOUT)
        assert driver.failed is None

    async def test_a_session_resumes_in_a_new_process(
        self, conformance_sessions: dict[str, ConformanceSession]
    ) -> None:
        first = conformance_sessions["resume"].ready()
        assert first.started is not None
        session_id = first.started.harness_session_id
        remembered, _ = await first.turn(Prompts.REMEMBER)
        assert remembered.ok
        await first.close()
        await self.prepare_resume(first.setup, session_id)

        again = self.open_session(first.setup, resume=session_id)
        with anyio.fail_after(TURN_TIMEOUT):
            async with again.driver:
                resumed = await again.driver.start()
                assert again.recorder.events == [resumed], "the old conversation is no event"
                end, events = await again.turn(Prompts.RECALL)
                self.check_resumed(again.driver)

        assert resumed.harness_session_id == session_id and resumed.resumed
        assert end.ok and end.text == f"echo: {Prompts.RECALL}"
        assert "".join(d.text for d in events.of(TextDelta)) == end.text, "no replay leaks"
        if self.uses_fake_model:
            prompts = setup_model(first).requests[-1].prompts
            assert prompts[-2:] == (Prompts.REMEMBER, Prompts.RECALL), "the CLI remembers"

    async def test_resuming_an_unknown_session_fails_clearly(
        self, conformance_sessions: dict[str, ConformanceSession]
    ) -> None:
        session = conformance_sessions["unknown"]
        assert session.started is None, "a session nobody created must not start"
        assert session.failure is not None
        message = str(session.failure)
        assert message.strip() and "Traceback" not in message
        assert re.search(r"(?i)session|resum|conversation", message), message

    async def test_a_model_api_error_fails_the_turn_with_the_cli_s_message(
        self, conformance_sessions: dict[str, ConformanceSession]
    ) -> None:
        session = conformance_sessions["error"].ready()
        end, events = await session.turn(Prompts.FAIL)
        again, _ = await session.turn(Prompts.HELLO)

        [error] = events.of(Error)
        assert Prompts.FAIL_MESSAGE in error.message
        assert end.stop_reason is StopReason.error and end.error == error.message
        assert error.fatal is self.api_error_is_fatal
        if self.api_error_is_fatal:
            assert session.driver.failed == error.message
            assert again.stop_reason is StopReason.error, "a failed session takes no turns"
        else:
            assert session.driver.failed is None
            assert again.ok and again.text == f"echo: {Prompts.HELLO}"
        with anyio.fail_after(TURN_TIMEOUT):
            await session.close()

    async def test_a_killed_cli_fails_the_turn_at_once(
        self, conformance_sessions: dict[str, ConformanceSession]
    ) -> None:
        session = conformance_sessions["killed"].ready()
        driver, recorder = session.driver, session.recorder
        ends: list[TurnEnd] = []
        with anyio.fail_after(TURN_TIMEOUT):
            async with anyio.create_task_group() as tg:

                async def turn() -> None:
                    ends.append(await driver.prompt(Prompts.SLOW))

                requests, mark = len(setup_model(session).requests), recorder.mark()
                tg.start_soon(turn)
                await self.wait_turn_underway(session, requests=requests, mark=mark)
                os.killpg(session.pid, signal.SIGKILL)

        [error] = recorder.of(Error)
        assert error.fatal and re.search(r"killed by (signal 9|SIGKILL)", error.message)
        [end] = ends
        assert end.stop_reason is StopReason.error and end.error == error.message
        assert driver.failed == error.message
        assert recorder.events[-2:] == [error, end]

    async def test_nothing_is_left_running_after_the_session(
        self, conformance_sessions: dict[str, ConformanceSession]
    ) -> None:
        session = conformance_sessions["sleeper"].ready()
        end, events = await session.turn(Prompts.SLEEPER)
        assert end.ok
        pgid = session.pid
        members = group_members(pgid)
        pid_file = session.setup.project / "sleeper.pid"
        assert pid_file.exists(), f"the shell tool did not run: {events.of(ToolResult)}"
        sleeper = int(pid_file.read_text())
        assert pgid in members
        with anyio.fail_after(TURN_TIMEOUT):
            await session.close()
        gone = await anyio.to_thread.run_sync(wait_gone, [*members, sleeper], 10.0)
        assert gone == [], "processes of the session still run after it closed"
        assert group_members(pgid) == []


def setup_model(session: ConformanceSession) -> FakeModelServer:
    """The fake model a session of the suite runs against."""
    return session.setup.model
