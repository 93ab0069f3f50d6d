"""``WorkflowEngine.group``: one message to several sessions, on the in-process fake provider.

The fake agent answers ``reply: <message>`` at once, or, when the message says
``hold``, when the test releases its driver (an interrupt ends that turn as
cancelled): the tests decide which target answers when.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from aegis.session import SessionManager, SessionState
from aegis.workflow import GroupReply, WorkflowError
from tests.session.fake_provider import FakeDriver
from tests.support import transcripts
from tests.support.waiting import until
from tests.workflow.test_engine import engine_for, sessions_for

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_provider")]


async def three(sessions: SessionManager) -> list[tuple[str, FakeDriver]]:
    spawned = []
    for _ in range(3):
        handle = await sessions.spawn("main")
        spawned.append((handle, FakeDriver.instances[-1]))
    return spawned


async def test_all_returns_every_reply_in_the_order_of_the_targets(tmp_path: Path) -> None:
    async with sessions_for(tmp_path) as sessions:
        (a, da), (b, db), (c, dc) = await three(sessions)
        engine = engine_for(sessions)
        replies: list[GroupReply] = []

        async def ask() -> None:
            replies.extend(await engine.group([a, b, c], "hold on, then say hi"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask)
            await until(lambda: da.prompts and db.prompts and dc.prompts, timeout=5)
            for driver, handle in ((db, b), (dc, c), (da, a)):  # they answer b, c, a
                driver.release.set()
                await until(lambda h=handle: sessions.get(h).state is SessionState.ready, timeout=5)
        senders = await _senders(sessions, a)
    assert [r.handle for r in replies] == [a, b, c]
    assert [r.status for r in replies] == ["ok", "ok", "ok"]
    assert replies[0].text == "reply: hold on, then say hi"
    assert senders == ["workflow:run-1"]


async def test_first_returns_at_the_first_answer_and_stops_the_other_turns(
    tmp_path: Path,
) -> None:
    async with sessions_for(tmp_path) as sessions:
        (a, da), (b, db), (c, dc) = await three(sessions)
        # c is busy with earlier work: the group's message waits in its inbox.
        sessions.send(c, "hold this earlier work")
        await until(lambda: dc.prompts != [], timeout=5)
        engine = engine_for(sessions)
        replies: list[GroupReply] = []

        async def ask() -> None:
            replies.extend(await engine.group([a, b, c], "hold, then answer", wait="first"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask)
            await until(lambda: len(da.prompts) == 1 and len(db.prompts) == 1, timeout=5)
            db.release.set()
        await sessions.drain(a, timeout=5)
        dc.release.set()
        await sessions.drain(c, timeout=5)
        c_prompts = list(dc.prompts)
        a_state = sessions.get(a).state
    assert [r.status for r in replies] == ["cancelled", "ok", "cancelled"]
    assert replies[1].text == "reply: hold, then answer"
    # a's running turn was interrupted; c never got the message (taken out of its inbox).
    assert a_state is SessionState.ready
    assert c_prompts == ["hold this earlier work"]


async def test_the_cap_sends_to_one_target_at_a_time(tmp_path: Path) -> None:
    async with sessions_for(tmp_path) as sessions:
        (a, da), (b, db), _ = await three(sessions)
        engine = engine_for(sessions)
        replies: list[GroupReply] = []

        async def ask() -> None:
            replies.extend(await engine.group([a, b], "hold it", max_concurrency=1))

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask)
            await until(lambda: da.prompts != [], timeout=5)
            b_before = list(db.prompts)
            da.release.set()
            await until(lambda: db.prompts != [], timeout=5)
            db.release.set()
    assert b_before == []  # b got nothing while a held the only place
    assert [(r.handle, r.status) for r in replies] == [(a, "ok"), (b, "ok")]


async def test_first_with_a_cap_skips_the_targets_not_yet_sent_to(tmp_path: Path) -> None:
    async with sessions_for(tmp_path) as sessions:
        (a, _), (b, db), _ = await three(sessions)
        engine = engine_for(sessions)
        replies = await engine.group([a, b], "say hi", wait="first", max_concurrency=1)
    assert [r.status for r in replies] == ["ok", "skipped"]
    assert db.prompts == []


async def test_the_timeout_stops_the_turns_that_did_not_answer(tmp_path: Path) -> None:
    async with sessions_for(tmp_path) as sessions:
        (a, _), (b, _), _ = await three(sessions)
        engine = engine_for(sessions)
        replies = await engine.group([a, b], "hold forever", timeout=0.2)
        await sessions.drain(a, timeout=5)
        states = [sessions.get(h).state for h in (a, b)]
    assert [r.status for r in replies] == ["timeout", "timeout"]
    assert "timeout (0.2 s)" in (replies[0].error or "")
    assert states == [SessionState.ready, SessionState.ready]


async def test_a_failed_turn_is_a_reply_and_bad_targets_send_nothing(tmp_path: Path) -> None:
    async with sessions_for(tmp_path) as sessions:
        (a, da), (b, _), (c, _) = await three(sessions)
        await sessions.close(c)
        engine = engine_for(sessions)
        replies = await engine.group([a], "die now")  # its CLI dies during the turn
        with pytest.raises(WorkflowError, match=f"not live sessions: {c}"):
            await engine.group([b, c], "hello")
        with pytest.raises(WorkflowError, match=f"repeated: {b}"):
            await engine.group([b, b], "hello")
    assert [r.status for r in replies] == ["failed"]
    assert replies[0].error == "the fake CLI died"
    assert da.prompts == ["die now"]


async def _senders(sessions: SessionManager, handle: str) -> list[str]:
    records = await transcripts.records(sessions, handle)
    return [r["sender"] for r in records if r["type"] == "user_message"]
