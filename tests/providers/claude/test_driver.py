"""ClaudeDriver against a scripted stand-in CLI: the failures the real claude won't stage.

See ``fake_claude.py`` for the scenario language. The protocol itself (real lines, real
timing) is pinned by ``test_real_cli.py``.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest

from aegis.builtins.scripted import Scripted
from aegis.config import Agent
from aegis.config.enums import Permission
from aegis.driver import SessionOptions
from aegis.errors import DriverError, HarnessNotFound
from aegis.events import (
    AssistantMessage,
    Error,
    SessionStarted,
    StopReason,
    TextDelta,
    ToolKind,
    ToolResult,
    TurnEnd,
)
from aegis.permissions import refusal
from aegis.testing.processes import group_members, wait_gone
from aegis_claude.config import ClaudeCode
from aegis_claude.provider import ClaudeCodeProvider
from tests.providers.claude.helpers import (
    FakeCli,
    Recorder,
    open_driver,
)

pytestmark = pytest.mark.anyio

JSON = dict[str, Any]


def _lifecycle(state: str, command: str = "$UUID") -> JSON:
    return {"out": {"type": "command_lifecycle", "command_uuid": command, "state": state}}


def _text(text: str, *, parent: str | None = None) -> JSON:
    return {
        "out": {
            "type": "assistant",
            "parent_tool_use_id": parent,
            "message": {
                "id": f"msg_{text}",
                "role": "assistant",
                "content": [{"type": "text", "text": text}],
            },
        }
    }


def _result(text: str, command: str | None = "$UUID", **fields: Any) -> JSON:
    line: JSON = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "result": text,
        "stop_reason": "end_turn",
        "duration_ms": 12,
        "usage": {"input_tokens": 10, "output_tokens": 2},
        "total_cost_usd": 0.01,
        **fields,
    }
    if command is not None:
        line["user_message_uuid"] = command
    return {"out": line}


def _turn(*middle: JSON, text: str = "done") -> list[JSON]:
    """A well-formed turn: lifecycle, the middle steps, a text and its result."""
    return [
        _lifecycle("queued"),
        _lifecycle("started"),
        *middle,
        _text(text),
        _result(text),
        _lifecycle("completed"),
    ]


def _config(cli: FakeCli, **fields: Any) -> ClaudeCode:
    return ClaudeCode(executable=str(cli.executable), **fields)


def _texts(events: list[Any]) -> str:
    return " ".join(getattr(e, "text", "") or "" for e in events)


async def test_start_chooses_the_session_id_and_reports_it(
    fake_cli: FakeCli, recorder: Recorder, tmp_path: Path
) -> None:
    fake_cli.write({"turns": []})
    async with open_driver(_config(fake_cli), tmp_path, recorder, env=fake_cli.env) as driver:
        started = await driver.start()

    argv = fake_cli.log()[0]["argv"]
    session_id = argv[argv.index("--session-id") + 1]
    assert uuid.UUID(session_id).version == 4
    assert started == SessionStarted(session_id, model="fake-opus", tools=(), resumed=False)
    assert recorder.events == [started]
    assert driver.harness_session_id == session_id


async def test_resume_reuses_the_given_id(
    fake_cli: FakeCli, recorder: Recorder, tmp_path: Path
) -> None:
    fake_cli.write({"turns": []})
    config = _config(fake_cli, model="opus")
    async with open_driver(config, tmp_path, recorder, env=fake_cli.env, resume="old-1") as driver:
        started = await driver.start()

    argv = fake_cli.log()[0]["argv"]
    assert argv[argv.index("--resume") + 1] == "old-1" and "--session-id" not in argv
    # A model claude does not list under that name is reported as configured.
    assert started == SessionStarted("old-1", model="opus", resumed=True)


async def test_garbled_output_and_a_20_mb_line_do_not_break_a_turn(
    fake_cli: FakeCli, recorder: Recorder, tmp_path: Path
) -> None:
    big = 20 * 1024 * 1024
    garbled = (
        '{"type":"assistant","message":{"id":"m1","content":[{"type":"text","text":"caf\u00ff"}]}}'
    )
    fake_cli.write(
        {
            "turns": [
                _turn(
                    {"raw": "Debugger attached."},
                    {"raw": garbled},
                    {"raw": "{truncated json"},
                    {"big": big},
                    text="still fine",
                )
            ]
        }
    )
    config = _config(fake_cli)
    async with open_driver(config, tmp_path, recorder, env=fake_cli.env) as driver:
        await driver.start()
        end = await driver.prompt("go")

    assert end.stop_reason is StopReason.end_turn
    assert end.text == "caf\ufffd\n\nstill fine"
    [result] = recorder.of(ToolResult)
    assert len(result.output) == big
    notes = "\n".join(driver.options.diagnostics.lines)
    assert "non-JSON line: Debugger attached." in notes
    assert "non-JSON line: {truncated json" in notes


async def test_output_between_turns_never_reaches_a_turn(
    fake_cli: FakeCli, recorder: Recorder, tmp_path: Path
) -> None:
    other = str(uuid.uuid4())
    first = [*_turn(text="one"), _text("unprompted chatter"), _result("stray", command=None)]
    # claude runs a turn of its own (a background task's notice) while ours is queued.
    second = [
        _lifecycle("queued"),
        _lifecycle("started", other),
        _text("intruder"),
        _result("intruder", command=other),
        _lifecycle("completed", other),
        _lifecycle("started"),
        _text("two"),
        _result("two"),
        _lifecycle("completed"),
    ]
    fake_cli.write({"turns": [first, second]})
    async with open_driver(_config(fake_cli), tmp_path, recorder, env=fake_cli.env) as driver:
        await driver.start()
        one = await driver.prompt("first")
        mark = recorder.mark()
        two = await driver.prompt("second")

    assert (one.text, two.text) == ("one", "two")
    turn_two = recorder.since(mark)
    assert "intruder" not in _texts(turn_two) and "chatter" not in _texts(turn_two)
    assert [e for e in turn_two if isinstance(e, TurnEnd)] == [two]
    notes = "\n".join(driver.options.diagnostics.lines)
    assert "unprompted chatter" in notes and "intruder" in notes and "stray" in notes


async def test_an_interrupt_claude_never_ends_is_cancelled_and_its_late_output_dropped(
    fake_cli: FakeCli, recorder: Recorder, tmp_path: Path
) -> None:
    stubborn = [
        _lifecycle("queued"),
        _lifecycle("started"),
        _text("partial"),
        {"await": "interrupt"},
        {"sleep": 0.6},
        _text("LATE"),
        _result("LATE"),
        _lifecycle("completed"),
    ]
    fake_cli.write({"turns": [stubborn, _turn(text="fresh")]})
    async with open_driver(_config(fake_cli), tmp_path, recorder, env=fake_cli.env) as driver:
        driver.interrupt_grace = 0.2
        await driver.start()
        async with anyio.create_task_group() as group:

            async def interrupt_when_streaming() -> None:
                while not recorder.of(AssistantMessage):
                    await anyio.sleep(0.01)
                await driver.interrupt()

            group.start_soon(interrupt_when_streaming)
            cancelled = await driver.prompt("slow")
        mark = recorder.mark()
        fresh = await driver.prompt("next")

    assert cancelled.stop_reason is StopReason.cancelled and cancelled.text == "partial"
    assert fresh.stop_reason is StopReason.end_turn and fresh.text == "fresh"
    assert "LATE" not in _texts(recorder.events)
    assert recorder.of(TurnEnd, mark) == [fresh]


async def test_permission_requests_follow_the_profile(
    fake_cli: FakeCli, recorder: Recorder, tmp_path: Path
) -> None:
    asks = [
        {"subtype": "can_use_tool", "tool_name": name, "input": tool_input, "tool_use_id": name}
        for name, tool_input in (
            ("Edit", {"file_path": "/p/a.py", "old_string": "a", "new_string": "b"}),
            ("Read", {"file_path": "/p/a.py"}),
            ("Bash", {"command": "rm -rf /"}),
            ("mcp__x__y", {}),
        )
    ]
    fake_cli.write({"turns": [_turn(*({"ask": ask} for ask in asks))]})
    config = _config(fake_cli, permission=Permission.write)
    async with open_driver(config, tmp_path, recorder, env=fake_cli.env) as driver:
        await driver.start()
        await driver.prompt("edit things")

    answers = [r["response"]["response"] for r in fake_cli.received("control_response")]
    assert answers == [
        {"behavior": "allow", "updatedInput": asks[0]["input"]},
        {"behavior": "allow", "updatedInput": asks[1]["input"]},
        {"behavior": "deny", "message": refusal(Permission.write, ToolKind.execute)},
        {"behavior": "deny", "message": refusal(Permission.write, ToolKind.other)},
    ]


async def test_requests_aegis_does_not_serve_get_an_error_reply(
    fake_cli: FakeCli, recorder: Recorder, tmp_path: Path
) -> None:
    fake_cli.write({"turns": [_turn({"ask": {"subtype": "hook_callback", "callback_id": "h"}})]})
    async with open_driver(_config(fake_cli), tmp_path, recorder, env=fake_cli.env) as driver:
        await driver.start()
        end = await driver.prompt("go")

    [reply] = fake_cli.received("control_response")
    assert reply["response"]["subtype"] == "error"
    assert "hook_callback" in reply["response"]["error"]
    assert end.stop_reason is StopReason.end_turn


async def test_cli_dying_mid_turn_fails_the_turn_at_once(
    fake_cli: FakeCli, recorder: Recorder, tmp_path: Path
) -> None:
    dying = [
        _lifecycle("queued"),
        _lifecycle("started"),
        _text("half"),
        {"exit": 3, "stderr": "fatal: out of cheese\n"},
    ]
    fake_cli.write({"turns": [dying]})
    async with open_driver(_config(fake_cli), tmp_path, recorder, env=fake_cli.env) as driver:
        await driver.start()
        with anyio.fail_after(5):
            end = await driver.prompt("go")
        again = await driver.prompt("anyone there?")

    [error] = recorder.of(Error)
    assert error.fatal
    assert "exited with code 3" in error.message and "out of cheese" in error.message
    assert end.stop_reason is StopReason.error and end.text == "half"
    assert end.error == error.message == driver.failed
    assert again.stop_reason is StopReason.error
    # The error comes before the turn's end, and nothing follows but the refused prompt.
    assert recorder.events.index(error) < recorder.events.index(end)
    assert len(fake_cli.received("user")) == 1


async def test_start_failure_says_what_claude_said(
    fake_cli: FakeCli, recorder: Recorder, tmp_path: Path
) -> None:
    fake_cli.write({"init": {"exit": 1, "stderr": "Error: No conversation found\n"}})
    async with open_driver(_config(fake_cli), tmp_path, recorder, env=fake_cli.env) as driver:
        with pytest.raises(DriverError, match=r"(?s)exited with code 1.*No conversation found"):
            await driver.start()

    assert recorder.events == []


@pytest.mark.parametrize("command", ["/nonexistent/bin/claude", "claude-not-installed-here"])
async def test_missing_executable_names_the_install_command(
    command: str, recorder: Recorder, tmp_path: Path
) -> None:
    async with open_driver(ClaudeCode(executable=command), tmp_path, recorder) as driver:
        with pytest.raises(HarnessNotFound, match=ClaudeCodeProvider.install_hint):
            await driver.start()


async def test_bypass_as_root_without_sandbox_flag_is_refused_before_spawning(
    fake_cli: FakeCli, recorder: Recorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("aegis_claude.argv.os.geteuid", lambda: 0)
    fake_cli.write({"turns": []})
    config = _config(fake_cli, permission=Permission.full)
    env = {**fake_cli.env, "IS_SANDBOX": "yes"}
    async with open_driver(config, tmp_path, recorder, env=env) as driver:
        with pytest.raises(DriverError, match="IS_SANDBOX=1"):
            await driver.start()

    assert fake_cli.log() == []


async def test_leaving_during_a_turn_stops_everything_claude_started(
    fake_cli: FakeCli, recorder: Recorder, tmp_path: Path
) -> None:
    hanging = [
        _lifecycle("queued"),
        _lifecycle("started"),
        {"spawn": ["sleep", "300"]},
        _text("working"),
        {"sleep": 300},
    ]
    fake_cli.write({"turns": [hanging]})
    async with open_driver(_config(fake_cli), tmp_path, recorder, env=fake_cli.env) as driver:
        await driver.start()
        assert driver.process is not None
        group = driver.process.pid
        with anyio.move_on_after(0.5):
            await driver.prompt("hang")

    [escaped] = [entry["spawned"] for entry in fake_cli.log() if "spawned" in entry]
    assert wait_gone(group_members(group), timeout=3) == []
    assert wait_gone([escaped], timeout=3) == []
    # The abandoned turn still ended, cancelled, and claude was asked to stop it.
    assert [e.stop_reason for e in recorder.of(TurnEnd)] == [StopReason.cancelled]
    assert [r["request"]["subtype"] for r in fake_cli.received("control_request")] == [
        "initialize",
        "interrupt",
    ]


async def test_text_deltas_stream_before_the_turn_ends(
    fake_cli: FakeCli, recorder: Recorder, tmp_path: Path
) -> None:
    delta = {
        "out": {
            "type": "stream_event",
            "api_message_id": "msg_hi",
            "parent_tool_use_id": None,
            "event": {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "hi"},
            },
        }
    }
    fake_cli.write({"turns": [_turn(delta, text="hi")]})
    async with open_driver(_config(fake_cli), tmp_path, recorder, env=fake_cli.env) as driver:
        await driver.start()
        await driver.prompt("hello")

    kinds = [type(e) for e in recorder.events[1:]]
    # The streamed delta is not repeated when the whole message arrives.
    assert kinds[:2] == [TextDelta, AssistantMessage] and kinds[-1] is TurnEnd
    assert recorder.of(TextDelta) == [TextDelta("hi")]


async def test_an_error_in_the_block_comes_out_as_itself_and_claude_is_stopped(
    fake_cli: FakeCli, recorder: Recorder, tmp_path: Path
) -> None:
    fake_cli.write({"turns": []})
    driver = open_driver(_config(fake_cli), tmp_path, recorder, env=fake_cli.env)
    groups: list[int] = []

    async def fail_inside() -> None:
        async with driver:
            await driver.start()
            assert driver.process is not None
            groups.append(driver.process.pid)
            raise RuntimeError("the caller's own failure")

    with pytest.raises(RuntimeError, match="the caller's own"):
        await fail_inside()
    assert wait_gone(group_members(groups[0]), timeout=3) == []


async def test_the_provider_drives_only_claude_profiles(tmp_path: Path) -> None:
    with pytest.raises(DriverError, match="not ClaudeCode"):
        ClaudeCodeProvider().open_driver(Agent(provider=Scripted()), SessionOptions(cwd=tmp_path))
