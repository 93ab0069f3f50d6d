"""Sessions through one daemon: spawn, send, subscribe (replay then live), two clients,
and the commands that show them (`aegis ps`, `aegis logs`, `aegis attach`)."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from aegis.daemon import http
from aegis.daemon.client import DaemonClient, DaemonError, Numbered, SessionSummary, StreamEnd
from aegis.daemon.protocol import PROTOCOL_HEADER, socket_path
from aegis.events import SessionStarted, StateChanged, TurnEnd, UserMessage
from aegis.session.transcript import read_records
from tests.daemon.conftest import aegis
from tests.fixtures.fakes import AEGIS, clean_env
from tests.support.waiting import until

pytestmark = pytest.mark.anyio


def client(project: Path, name: str = "test") -> DaemonClient:
    return DaemonClient(project / ".aegis", name=name)


async def collect(
    daemon: DaemonClient, handle: str, after: int, *, until_turns: int = 0, follow: bool = True
) -> list[Numbered]:
    """The events of ``handle`` after ``after``: until ``until_turns`` turns have ended
    (following), or all there are (replay)."""
    items: list[Numbered] = []
    with anyio.fail_after(60):
        async for item in daemon.events(handle, after, follow=follow):
            if isinstance(item, StreamEnd):
                break
            items.append(item)
            turns = sum(isinstance(i.event, TurnEnd) for i in items)
            if until_turns and turns >= until_turns:
                break
    return items


def assert_consecutive(items: list[Numbered], first: int) -> None:
    assert [i.seq for i in items] == list(range(first, first + len(items)))


async def test_status_answers_with_versions_pid_and_counts(project: Path) -> None:
    from aegis import __version__

    status = await client(project).status()
    assert status["protocol"] == 1 and status["aegis_version"] == __version__
    assert status["project"] == str(project)
    assert {"live", "total"} <= set(status["sessions"])
    assert status["tasks"] == {"queued": 0, "running": 0}


async def test_subscribing_from_zero_and_from_the_middle_replays_then_goes_live(
    project: Path,
) -> None:
    daemon = client(project)
    handle = (await daemon.spawn("offline")).handle
    await daemon.send(handle, "hello")
    past = await collect(daemon, handle, 0, until_turns=1)
    assert_consecutive(past, 1)
    middle = past[len(past) // 2].seq

    async with anyio.create_task_group() as tg:
        results: dict[int, list[Numbered]] = {}

        async def watch(after: int) -> None:
            results[after] = await collect(daemon, handle, after, until_turns=2)

        tg.start_soon(watch, 0)
        tg.start_soon(watch, middle)
        await anyio.sleep(0.2)
        await daemon.send(handle, "count 2")  # live, while both subscriptions read

    from_zero, from_middle = results[0], results[middle]
    assert_consecutive(from_zero, 1)
    assert_consecutive(from_middle, middle + 1)
    assert [i.event for i in from_zero[middle:]] == [i.event for i in from_middle]
    ends = [i.event for i in from_zero if isinstance(i.event, TurnEnd)]
    assert [e.text for e in ends][-1] == "counted 2, one two three four five"

    # The numbers are the transcript's.
    path = project / ".aegis" / "sessions" / handle / "transcript.jsonl"
    # The daemon's transcript writer lags the events by up to a second.
    await until(lambda: len(list(read_records(path))) >= len(from_zero), what="the transcript")
    on_disk = list(read_records(path))
    assert [r["seq"] for r in on_disk][: len(from_zero)] == [i.seq for i in from_zero]
    await daemon.close(handle)


async def test_subscriptions_opened_while_events_stream_miss_none_and_repeat_none(
    project: Path,
) -> None:
    daemon = client(project)
    handle = (await daemon.spawn("offline")).handle
    turns = 12
    for n in range(turns):
        await daemon.send(handle, f"count {n}")
    streams: list[list[Numbered]] = []
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            streams.append(await collect(daemon, handle, 0, until_turns=turns))

        for _ in range(6):  # opened at different moments of the stream
            tg.start_soon(watch)
            await anyio.sleep(0.05)
    reference = streams[0]
    assert_consecutive(reference, 1)
    for items in streams:
        assert [(i.seq, i.event) for i in items] == [(i.seq, i.event) for i in reference]
    await daemon.close(handle)


async def test_a_session_resumed_under_its_handle_numbers_on_and_replays_both_runs(
    project: Path,
) -> None:
    daemon = client(project)
    first = await daemon.spawn("offline")
    await daemon.send(first.handle, "hello")
    earlier = await collect(daemon, first.handle, 0, until_turns=1)
    await daemon.close(first.handle)
    closed = await collect(daemon, first.handle, 0, follow=False)
    assert closed[-1].event == StateChanged("closed")
    [started] = [i.event for i in earlier if isinstance(i.event, SessionStarted)]
    resumed = await daemon.spawn("offline", first.handle, resume=started.harness_session_id)
    assert resumed.handle == first.handle and resumed.seq > closed[-1].seq
    await daemon.send(first.handle, "count 3")
    both = await collect(daemon, first.handle, 0, until_turns=2)
    assert_consecutive(both, 1)
    assert [i.event for i in both[: len(earlier)]] == [i.event for i in earlier]
    texts = [i.event.text for i in both if isinstance(i.event, UserMessage)]
    assert texts == ["hello", "count 3"]
    path = project / ".aegis" / "sessions" / first.handle / "transcript.jsonl"
    records = list(read_records(path))
    await daemon.close(first.handle)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))


async def test_the_session_list_streams_each_session_and_its_changes(project: Path) -> None:
    daemon = client(project, "client:watcher")
    before = await daemon.spawn("offline")
    seen: list[tuple[str, str]] = []
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                async for item in daemon.watch_sessions():
                    assert not isinstance(item, StreamEnd)
                    seen.append((item.handle, item.state))
                    if (after.handle, "closed") in seen:
                        tg.cancel_scope.cancel()

            after = await daemon.spawn("offline", started_by="client:other")
            tg.start_soon(watch)
            while (before.handle, "ready") not in seen:
                await anyio.sleep(0.05)
            status = await daemon.status()
            assert "client:watcher" in [c["name"] for c in status["clients"]]
            await daemon.close(after.handle)
    mine = [state for handle, state in seen if handle == after.handle]
    assert mine == ["ready", "closed"]
    await daemon.close(before.handle)


async def test_two_clients_on_one_session_both_see_every_event_and_both_send(
    project: Path,
) -> None:
    first, second = client(project, "client:a"), client(project, "client:b")
    handle = (await first.spawn("offline", started_by="client:a")).handle
    seen: dict[str, list[Numbered]] = {}
    async with anyio.create_task_group() as tg:

        async def watch(name: str, daemon: DaemonClient) -> None:
            seen[name] = await collect(daemon, handle, 0, until_turns=2)

        tg.start_soon(watch, "a", first)
        tg.start_soon(watch, "b", second)
        await anyio.sleep(0.2)
        status = await first.status()
        assert sorted(c["name"] for c in status["clients"]) == ["client:a", "client:b"]
        await first.send(handle, "hello", sender="client:a")
        await second.send(handle, "count 7", sender="client:b")
    assert [(i.seq, i.event) for i in seen["a"]] == [(i.seq, i.event) for i in seen["b"]]
    senders = [i.event.sender for i in seen["a"] if isinstance(i.event, UserMessage)]
    assert senders == ["client:a", "client:b"]
    assert (await first.session(handle)).started_by == "client:a"
    await first.close(handle)


async def test_errors_say_what_is_wrong(project: Path) -> None:
    daemon = client(project)
    with pytest.raises(DaemonError) as unknown:
        await daemon.send("no-such-session", "hello")
    assert unknown.value.code == "unknown_session"
    with pytest.raises(DaemonError) as profile:
        await daemon.spawn("nobody")
    assert profile.value.code == "unknown_profile" and "offline" in (profile.value.hint or "")
    handle = (await daemon.spawn("offline")).handle
    with pytest.raises(DaemonError) as sender:
        await daemon.send(handle, "hello", sender="agent:someone")
    assert sender.value.code == "bad_request"
    await daemon.close(handle)
    with pytest.raises(DaemonError) as ended:
        await daemon.send(handle, "hello")
    assert ended.value.code == "session_ended"


async def test_a_client_of_another_protocol_version_is_refused(project: Path) -> None:
    reply = await http.request(
        socket_path(project / ".aegis"), "GET", "/v1/status", headers={PROTOCOL_HEADER: "999"}
    )
    assert reply.status == 409
    error = reply.json()["error"]
    assert error["code"] == "protocol_mismatch" and "aegis daemon restart" in error["hint"]


async def test_queue_tasks_enqueued_through_the_daemon_run_there(project: Path) -> None:
    daemon = client(project)
    seen: list[SessionSummary] = []

    async def watch() -> None:
        async for item in client(project).watch_sessions():
            if isinstance(item, SessionSummary):
                seen.append(item)

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        task = await daemon.enqueue("work", "hello")
        assert task["status"] in ("queued", "running") and task["sender"] == "user"
        with anyio.fail_after(60):
            while (await daemon.task(task["id"]))["status"] != "done":
                await anyio.sleep(0.1)
        tg.cancel_scope.cancel()
    done = await daemon.task(task["id"])
    # Named a queue's worker from the first sight of it on (a frontend shows no tab).
    sightings = [s.started_by for s in seen if s.handle == done["worker_handle"]]
    assert sightings and set(sightings) == {"queue:work"}, sightings
    assert done["result"] == "hi there"
    assert task["id"] in [t["id"] for t in await daemon.tasks(queue="work")]
    assert (await daemon.queues())["work"]["done"] >= 1
    # Its worker session, its task over, still says who started it.
    [worker] = [s for s in await daemon.sessions() if s.handle == done["worker_handle"]]
    assert worker.started_by == "queue:work"
    with pytest.raises(DaemonError) as unknown:
        await daemon.enqueue("nowhere", "hello")
    assert unknown.value.code == "unknown_queue"


async def test_ps_lists_live_sessions_with_who_started_them(project: Path) -> None:
    daemon = client(project)
    handle = (await daemon.spawn("offline", started_by="client:tester")).handle
    listed = aegis(project, "ps", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = [s for s in json.loads(listed.stdout) if s["handle"] == handle]
    assert row["profile"] == "offline" and row["state"] == "ready"
    assert row["started_by"] == "client:tester"
    table = aegis(project, "ps")
    assert handle in table.stdout and "STARTED BY" in table.stdout
    await daemon.close(handle)
    assert handle not in aegis(project, "ps").stdout
    assert handle in aegis(project, "ps", "--all").stdout


async def test_logs_prints_the_transcript_and_follows_it(project: Path) -> None:
    daemon = client(project)
    handle = (await daemon.spawn("offline")).handle
    await daemon.send(handle, "hello")
    await collect(daemon, handle, 0, until_turns=1)
    printed = aegis(project, "logs", handle)
    assert printed.returncode == 0, printed.stderr
    assert "hi there" in printed.stdout and "[user] hello" in printed.stderr

    async with await anyio.open_process(
        [str(AEGIS), "logs", "-f", handle], cwd=project, env=clean_env(home=project)
    ) as follow:
        await anyio.sleep(0.5)
        await daemon.send(handle, "count 3")
        await collect(daemon, handle, 0, until_turns=2)
        await daemon.close(handle)  # the stream ends with the session
        assert follow.stdout is not None
        with anyio.fail_after(60):
            out = (await follow.stdout.receive(65536)).decode()
            while "counted 3" not in out:
                out += (await follow.stdout.receive(65536)).decode()
            assert await follow.wait() == 0
    assert out.count("hi there") == 1 and "counted 3" in out


async def test_attach_shows_the_replies_and_sends_the_lines(project: Path) -> None:
    daemon = client(project)
    handle = (await daemon.spawn("offline")).handle
    with anyio.fail_after(60):
        attached = await anyio.run_process(
            [str(AEGIS), "attach", handle],
            cwd=project,
            env=clean_env(home=project),
            input=b"hello\ncount 5\n",
            check=False,
        )
    assert attached.returncode == 0, attached.stderr
    assert b"hi there" in attached.stdout and b"counted 5" in attached.stdout
    assert f"detached from {handle}".encode() in attached.stderr
    # Detaching leaves the session running.
    assert (await daemon.session(handle)).state == "ready"
    nothing = aegis(project, "attach", "no-such-session")
    assert nothing.returncode == 1 and "error: no session 'no-such-session'" in nothing.stderr
    await daemon.close(handle)
    ended = aegis(project, "attach", handle)
    assert ended.returncode == 1 and f"aegis logs {handle}" in ended.stderr
