"""The InboxRouter: live delivery, messages kept for sessions that are not live, keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from aegis import hookimpl
from aegis.errors import MessageRefused
from aegis.events import UserMessage
from aegis.inbox import InboxRouter
from aegis.plugins import get_host
from aegis.session import SessionManager, UnknownSession
from tests.queue.fakes import AGENTS, POLL
from tests.session.fake_provider import FakeDriver
from tests.support.waiting import until

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_workers")]


@asynccontextmanager
async def router(root: Path) -> AsyncIterator[tuple[SessionManager, InboxRouter]]:
    async with (
        SessionManager(AGENTS, root=root) as sessions,
        InboxRouter(sessions, sessions.state_dir, poll_interval=POLL) as inbox,
    ):
        yield sessions, inbox


async def test_a_message_to_a_live_session_is_handed_over_with_its_sender(tmp_path: Path) -> None:
    async with router(tmp_path) as (sessions, inbox):
        handle = await sessions.spawn("boss")
        with sessions.subscribe(handle) as events:
            assert await inbox.deliver(handle, "hello", "agent:lucid-knuth") is True
            await sessions.drain(handle, timeout=5)
        assert await inbox.pending(handle) == []
        delivered = [e async for _, e in events if isinstance(e, UserMessage)]
    assert [(m.text, m.sender) for m in delivered] == [("hello", "agent:lucid-knuth")]


async def test_a_message_for_a_closed_session_is_kept_and_delivered_when_it_is_live_again(
    tmp_path: Path,
) -> None:
    async with router(tmp_path) as (sessions, inbox):
        handle = await sessions.spawn("boss")
        await sessions.close(handle)
        assert await inbox.deliver(handle, "first", "queue:review") is False
        assert await inbox.deliver(handle, "second", "user") is False
        kept = await inbox.pending(handle)
        assert [(m.message, m.sender) for m in kept] == [
            ("first", "queue:review"),
            ("second", "user"),
        ]
        assert FakeDriver.instances[-1].prompts == []
        await sessions.spawn("boss", handle=handle, resume="fake-session")
        revived = FakeDriver.instances[-1]
        await until(lambda: revived.prompts == ["first", "second"], timeout=5)
        assert await inbox.pending(handle) == []


async def test_a_message_for_a_handle_never_seen_is_an_error_for_the_sender(
    tmp_path: Path,
) -> None:
    async with router(tmp_path) as (_, inbox):
        with pytest.raises(UnknownSession, match="nobody-here"):
            await inbox.deliver("nobody-here", "hello?", "user")
        with pytest.raises(UnknownSession):
            await inbox.deliver("../../etc", "hello?", "user")
        assert await inbox.pending("nobody-here") == []


async def test_a_duplicate_key_is_ignored(tmp_path: Path) -> None:
    async with router(tmp_path) as (sessions, inbox):
        live = await sessions.spawn("boss")
        driver = FakeDriver.instances[-1]
        assert await inbox.deliver(live, "once", "queue:q", key="callback:1") is True
        assert await inbox.deliver(live, "once", "queue:q", key="callback:1") is True
        await sessions.drain(live, timeout=5)
        closed = await sessions.spawn("boss")
        await sessions.close(closed)
        assert await inbox.deliver(closed, "later", "queue:q", key="callback:2") is False
        assert await inbox.deliver(closed, "later", "queue:q", key="callback:2") is False
        assert [m.key for m in await inbox.pending(closed)] == ["callback:2"]
    assert driver.prompts == ["once"]


async def test_kept_messages_survive_a_restart(tmp_path: Path) -> None:
    async with router(tmp_path) as (sessions, inbox):
        handle = await sessions.spawn("boss")
        await sessions.close(handle)
        assert await inbox.deliver(handle, "while you were out", "agent:x", key="k") is False
    async with router(tmp_path) as (sessions, inbox):  # a new process on the same state
        assert [m.message for m in await inbox.pending(handle)] == ["while you were out"]
        assert await inbox.deliver(handle, "again", "agent:x", key="k") is False  # same key
        await sessions.spawn("boss", handle=handle, resume="fake-session")
        revived = FakeDriver.instances[-1]
        await until(lambda: revived.prompts == ["while you were out"], timeout=5)
        assert await inbox.pending(handle) == []


async def test_a_message_kept_by_another_process_reaches_the_session_live_here(
    tmp_path: Path,
) -> None:
    async with router(tmp_path) as (here, _), router(tmp_path) as (_, elsewhere):
        handle = await here.spawn("boss")
        driver = FakeDriver.instances[-1]
        # The other process does not have the session live: it keeps the message...
        assert await elsewhere.deliver(handle, "from afar", "agent:y") is False
        # ...and this process's router finds it on its next look.
        await until(lambda: driver.prompts == ["from afar"], timeout=5)


class Refuser:
    @hookimpl
    def before_send(self, message: str) -> str:
        raise MessageRefused("no spam")


async def test_a_refused_message_is_an_error_for_the_sender(tmp_path: Path) -> None:
    refuser = Refuser()
    async with router(tmp_path) as (sessions, inbox):
        handle = await sessions.spawn("boss")
        get_host().register(refuser, "refuser")
        try:
            with pytest.raises(MessageRefused, match="no spam"):
                await inbox.deliver(handle, "spam", "agent:z")
        finally:
            get_host().unregister(refuser)
        assert await inbox.pending(handle) == []
