"""The session layer's behaviour, pinned with an in-process driver."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
import pytest

from aegis import hookimpl
from aegis.config import Agent
from aegis.errors import DriverError, MessageRefused, StateError
from aegis.events import StopReason, TextDelta, UserMessage
from aegis.plugins import get_host
from aegis.session import SessionManager, SessionState, UnknownSession
from aegis.session.handles import HandleTaken
from aegis.session.manager import SessionClosed
from aegis.session.transcript import read_records
from tests.fixtures.disk import full_disk
from tests.session.fake_provider import Fake, FakeDriver

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_provider")]


def manager(tmp_path: Path, **agents: Agent) -> SessionManager:
    agents = agents or {"main": Agent(provider=Fake())}
    return SessionManager(agents, root=tmp_path)


async def test_spawn_gives_a_readable_handle_and_a_ready_session(tmp_path: Path) -> None:
    async with manager(tmp_path) as sessions:
        handle = await sessions.spawn("main")
        info = sessions.get(handle)
    assert re.fullmatch(r"[a-z]+-[a-z]+", handle)
    assert info.state is SessionState.ready
    assert info.profile == "main" and info.provider == "fake" and info.model == "fake-1"
    assert info.harness_session_id and info.harness_session_id.startswith("fake-")
    assert info.cwd == tmp_path.resolve()


async def test_messages_sent_to_a_busy_session_are_delivered_in_order_with_their_senders(
    tmp_path: Path,
) -> None:
    async with manager(tmp_path) as sessions:
        handle = await sessions.spawn("main")
        with sessions.subscribe(handle) as stream:
            sessions.send(handle, "hold on", sender="user")
            sessions.send(handle, "second", sender="agent:lucid-knuth")
            sessions.send(handle, "third", sender="queue:review")
            while sessions.get(handle).state is not SessionState.busy:
                await anyio.sleep(0.001)
            assert sessions.get(handle).queued == 2
            FakeDriver.instances[0].release.set()
            assert await sessions.drain(handle, timeout=5)
        delivered = []
        async for _, event in stream:
            if isinstance(event, UserMessage):
                delivered.append((event.text, event.sender))
    assert delivered == [
        ("hold on", "user"),
        ("second", "agent:lucid-knuth"),
        ("third", "queue:review"),
    ]
    assert FakeDriver.instances[0].prompts == ["hold on", "second", "third"]


async def test_request_returns_the_turn_end_and_usage_adds_up(tmp_path: Path) -> None:
    async with manager(tmp_path) as sessions:
        handle = await sessions.spawn("main")
        first = await sessions.request(handle, "one")
        await sessions.request(handle, "two")
        usage = sessions.get(handle).usage
    assert first.text == "reply: one" and first.ok
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens) == (20, 10, 8)
    assert usage.cost_usd == pytest.approx(0.02)


async def test_drain_times_out_on_a_stuck_turn_and_succeeds_once_it_ends(tmp_path: Path) -> None:
    async with manager(tmp_path) as sessions:
        handle = await sessions.spawn("main")
        sessions.send(handle, "hold")
        assert await sessions.drain(handle, timeout=0.05) is False
        FakeDriver.instances[0].release.set()
        assert await sessions.drain(handle, timeout=5) is True


async def test_interrupt_cancels_the_turn_and_the_next_turn_is_clean(tmp_path: Path) -> None:
    async with manager(tmp_path) as sessions:
        handle = await sessions.spawn("main")
        async with anyio.create_task_group() as tg:
            results: list[Any] = []

            async def slow() -> None:
                results.append(await sessions.request(handle, "hold"))

            tg.start_soon(slow)
            while sessions.get(handle).state is not SessionState.busy:
                await anyio.sleep(0.001)
            await sessions.interrupt(handle)
        after = await sessions.request(handle, "next")
    assert results[0].stop_reason is StopReason.cancelled
    assert after.text == "reply: next"


async def test_close_is_idempotent_and_answers_waiting_messages(tmp_path: Path) -> None:
    async with manager(tmp_path) as sessions:
        handle = await sessions.spawn("main")
        sessions.send(handle, "hold")
        async with anyio.create_task_group() as tg:
            ends: list[Any] = []

            async def waiting() -> None:
                ends.append(await sessions.request(handle, "never delivered"))

            tg.start_soon(waiting)
            await anyio.sleep(0.01)
            await sessions.close(handle)
            await sessions.close(handle)
        assert sessions.get(handle).state is SessionState.closed
        with pytest.raises(SessionClosed):
            sessions.send(handle, "too late")
    assert ends[0].stop_reason is StopReason.error and "closed" in ends[0].error
    assert FakeDriver.instances[0].exited


async def test_a_session_that_cannot_start_fails_with_the_reason(tmp_path: Path) -> None:
    async with manager(tmp_path, broken=Agent(provider=Fake(fail_start=True))) as sessions:
        with pytest.raises(DriverError, match="refused to start"):
            await sessions.spawn("broken")
        [info] = sessions.list_sessions()
    assert info.state is SessionState.failed
    assert info.error == "fake CLI refused to start"


async def test_a_fatal_turn_error_fails_the_session(tmp_path: Path) -> None:
    async with manager(tmp_path) as sessions:
        handle = await sessions.spawn("main")
        end = await sessions.request(handle, "die now")
        await sessions.drain(handle, timeout=5)
        info = sessions.get(handle)
        with pytest.raises(SessionClosed):
            sessions.send(handle, "hello?")
    assert end.stop_reason is StopReason.error
    assert info.state is SessionState.failed and info.error == "the fake CLI died"


async def test_unknown_handles_and_profiles_are_errors(tmp_path: Path) -> None:
    from aegis.errors import ConfigError

    async with manager(tmp_path) as sessions:
        with pytest.raises(UnknownSession):
            sessions.send("no-such-session", "hi")
        with pytest.raises(ConfigError, match="no agent profile 'nope'"):
            await sessions.spawn("nope")


async def test_handles_are_never_reused_within_a_project(tmp_path: Path) -> None:
    async with manager(tmp_path) as sessions:  # a first aegis run on the project
        first = {await sessions.spawn("main", wait=False) for _ in range(30)}
        assert await sessions.spawn("main", handle="reviewer") == "reviewer"
        with pytest.raises(HandleTaken):
            await sessions.spawn("main", handle="reviewer")
    async with manager(tmp_path) as sessions:  # a second run on the same state
        second = {await sessions.spawn("main", wait=False) for _ in range(30)}
        with pytest.raises(HandleTaken):
            await sessions.spawn("main", handle="reviewer")
    assert len(first) == 30 and len(second) == 30
    assert not first & second


async def test_the_transcript_holds_every_event_and_survives_a_torn_line(tmp_path: Path) -> None:
    async with manager(tmp_path) as sessions:
        handle = await sessions.spawn("main")
        await sessions.request(handle, "hello", sender="workflow:run-1")
        path = sessions.transcript_path(handle)
    records = list(read_records(path))
    types = [r["type"] for r in records]
    assert types[0] == "session_started"
    assert {"user_message", "text_delta", "assistant_message", "turn_end"} <= set(types)
    assert [r["seq"] for r in records] == sorted(r["seq"] for r in records)
    user = next(r for r in records if r["type"] == "user_message")
    assert user["sender"] == "workflow:run-1"
    with path.open("ab") as f:
        f.write(b'{"seq": 999, "type": "text_de')  # a writer killed mid-record
    assert list(read_records(path)) == records


class Censor:
    @hookimpl
    def before_send(self, message: str, sender: str) -> str | None:
        if "forbidden" in message:
            raise MessageRefused("no forbidden words")
        return message.replace("secret", "[redacted]") if sender == "user" else None


async def test_before_send_hooks_rewrite_and_refuse_messages(tmp_path: Path) -> None:
    censor = Censor()
    get_host().register(censor, "censor")
    try:
        async with manager(tmp_path) as sessions:
            handle = await sessions.spawn("main")
            end = await sessions.request(handle, "the secret plan")
            with pytest.raises(MessageRefused):
                sessions.send(handle, "a forbidden word")
    finally:
        get_host().unregister(censor)
    assert end.text == "reply: the [redacted] plan"


async def test_subscribers_see_events_as_they_stream(tmp_path: Path) -> None:
    async with manager(tmp_path) as sessions:
        handle = await sessions.spawn("main")
        with sessions.subscribe() as stream:
            await sessions.request(handle, "stream me")
            first_delta = None
            while first_delta is None:
                _, event = await stream.receive()
                if isinstance(event, TextDelta):
                    first_delta = event
    assert first_delta.text == "reply: stream me"


async def test_closing_a_session_mid_turn_ends_the_waiting_request(tmp_path: Path) -> None:
    async with manager(tmp_path) as sessions:
        handle = await sessions.spawn("main")
        async with anyio.create_task_group() as tg:
            ends: list[Any] = []

            async def in_flight() -> None:
                ends.append(await sessions.request(handle, "hold"))

            tg.start_soon(in_flight)
            while sessions.get(handle).state is not SessionState.busy:
                await anyio.sleep(0.001)
            await sessions.close(handle)
    assert ends[0].stop_reason is StopReason.error
    assert "closed" in ends[0].error


@pytest.mark.timeout(60)
async def test_a_spawn_failing_on_a_full_disk_leaves_no_session_and_leaving_is_prompt(
    tmp_path: Path,
) -> None:
    with full_disk(tmp_path / ".aegis" / "sessions"):
        sessions = manager(tmp_path)
        async with sessions:
            with pytest.raises(StateError, match=r"no space left on the disk holding .*sessions"):
                await sessions.spawn("main")
            assert sessions.list_sessions() == []
        # Leaving returned: nothing half-registered was waited for.
        assert FakeDriver.instances == []
