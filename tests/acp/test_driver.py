"""AcpDriver against a tiny unruly agent process: failures end turns at once, never hang."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from aegis.driver import SessionOptions
from aegis.errors import DriverError, HarnessNotFound
from aegis.events import (
    AssistantMessage,
    Error,
    Event,
    SessionStarted,
    StopReason,
    TextDelta,
    TurnEnd,
)
from tests.acp.fake_provider import FakeAgent, FakeAgentDriver, FakeAgentProvider, fake_driver

pytestmark = pytest.mark.anyio


def driver(tmp_path: Path, events: list[Event], **env: str) -> FakeAgentDriver:
    return fake_driver(SessionOptions(cwd=tmp_path, emit=events.append, env=env))


async def test_garbage_invalid_utf8_and_a_20_mb_line_are_survived(tmp_path: Path) -> None:
    events: list[Event] = []
    with anyio.fail_after(30):
        async with driver(tmp_path, events) as d:
            await d.start()
            end = await d.prompt("garbage")
            after = await d.prompt("still there?")
    assert end.stop_reason is StopReason.end_turn
    assert end.text == "y" * (20 << 20), "a 20 MB message chunk arrives whole"
    assert after.text == "ok: still there?"
    notes = d.diagnostics.tail(50)
    assert "not JSON: 'Loaded cached credentials.'" in notes
    assert "not UTF-8" in notes
    assert d.failed is None


async def test_text_streams_as_it_comes_and_the_turn_ends_with_all_of_it(tmp_path: Path) -> None:
    events: list[Event] = []
    with anyio.fail_after(15):
        async with driver(tmp_path, events) as d:
            started = await d.start()
            end = await d.prompt("hello")
    assert started == SessionStarted("fake-1")
    assert events == [
        started,
        TextDelta("ok: "),
        TextDelta("hello"),
        AssistantMessage("ok: hello"),
        end,
    ]
    assert end.text == "ok: hello" and end.usage is None


async def test_a_dying_agent_fails_the_turn_at_once(tmp_path: Path) -> None:
    events: list[Event] = []
    with anyio.fail_after(15):
        async with driver(tmp_path, events) as d:
            await d.start()
            began = anyio.current_time()
            end = await d.prompt("die")
            took = anyio.current_time() - began
            again = await d.prompt("hello")
    errors = [e for e in events if isinstance(e, Error)]
    assert took < 3
    assert end.stop_reason is StopReason.error and end.text == "about to die"
    assert len(errors) == 1 and errors[0].fatal
    assert "exited with code 3" in errors[0].message
    assert "panic: the fake agent crashed" in errors[0].message
    assert d.failed == errors[0].message == end.error
    assert again.stop_reason is StopReason.error, "a failed session takes no more turns"


async def test_an_error_answer_ends_the_turn_with_the_agents_words(tmp_path: Path) -> None:
    events: list[Event] = []
    with anyio.fail_after(15):
        async with driver(tmp_path, events) as d:
            await d.start()
            end = await d.prompt("api error")
            after = await d.prompt("next")
    errors = [e for e in events if isinstance(e, Error)]
    assert errors == [Error("Request failed: API Error: 400 context too long", code="400")]
    assert end.stop_reason is StopReason.error and end.error == errors[0].message
    assert after.text == "ok: next", "the CLI takes the next prompt, so the session goes on"
    assert d.failed is None


async def test_an_agent_that_ignores_cancel_is_given_up_after_the_grace(tmp_path: Path) -> None:
    class Impatient(FakeAgentDriver):
        interrupt_grace = 0.5

    events: list[Event] = []
    working = anyio.Event()

    def emit(event: Event) -> None:
        events.append(event)
        if isinstance(event, TextDelta):
            working.set()

    options = SessionOptions(cwd=tmp_path, emit=emit)
    ends: list[TurnEnd] = []
    with anyio.fail_after(15):
        async with Impatient(FakeAgentProvider(), FakeAgent(), options) as d:
            await d.start()
            async with anyio.create_task_group() as tg:

                async def turn() -> None:
                    ends.append(await d.prompt("stubborn"))

                tg.start_soon(turn)
                await working.wait()
                await d.interrupt()
    assert ends[0].stop_reason is StopReason.error
    assert d.failed is not None and "did not end the interrupted turn" in d.failed
    assert [e.fatal for e in events if isinstance(e, Error)] == [True]


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ("exit", "exited with code 2 during initialize\nfatal: no credentials configured"),
        ("version", "speaks ACP version 2; aegis speaks 1"),
    ],
)
async def test_start_failures_are_driver_errors_that_explain(
    tmp_path: Path, start: str, message: str
) -> None:
    with anyio.fail_after(15):
        async with driver(tmp_path, [], FAKE_AGENT_START=start) as d:
            with pytest.raises(DriverError) as caught:
                await d.start()
    assert message in str(caught.value)


async def test_an_agent_that_never_answers_times_out(tmp_path: Path) -> None:
    class Quick(FakeAgentDriver):
        start_timeout = 0.5

    options = SessionOptions(cwd=tmp_path, env={"FAKE_AGENT_START": "mute"})
    with anyio.fail_after(15):
        async with Quick(FakeAgentProvider(), FakeAgent(), options) as d:
            with pytest.raises(DriverError, match=r"did not answer initialize within 0\.5 s"):
                await d.start()


async def test_a_missing_executable_says_how_to_install_it(tmp_path: Path) -> None:
    missing = FakeAgent(executable="/nonexistent/agent-cli")
    with anyio.fail_after(15):
        async with fake_driver(SessionOptions(cwd=tmp_path), missing) as d:
            with pytest.raises(HarnessNotFound, match="pip install fake-agent"):
                await d.start()
