"""A hostile ACP agent, and hostile command-line input, cannot stop transcripts or queues.

The agent is a script this module writes: it speaks just enough ACP to be run by
the Gemini provider (through ``GeminiCLI(executable=...)``), and the prompt picks
what it emits — a lone UTF-16 surrogate (as a Node CLI does when it cuts a string
inside an emoji), a 3000-deep JSON line, or garbage — before ending the turn.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aegis.session.transcript import read_records
from aegis.text import REPLACEMENT
from tests.fixtures.fakes import AEGIS, clean_env

HOSTILE_AGENT = r"""
import json, sys

def send(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()

def chunk(text_json):
    # text_json is the JSON string literal, sent as is: it may hold a lone \ud83d.
    send('{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"h-1",'
         '"update":{"sessionUpdate":"agent_message_chunk",'
         '"content":{"type":"text","text":' + text_json + '}}}}')

for line in sys.stdin:
    message = json.loads(line)
    method, rid = message.get("method"), message.get("id")
    if method == "initialize":
        send(json.dumps({"jsonrpc": "2.0", "id": rid,
                         "result": {"protocolVersion": 1, "agentCapabilities":
                                    {"mcpCapabilities": {"http": True}}}}))
    elif method == "session/new":
        send(json.dumps({"jsonrpc": "2.0", "id": rid, "result": {"sessionId": "h-1"}}))
    elif method == "session/prompt":
        text = message["params"]["prompt"][-1]["text"]
        if "surrogate" in text:
            chunk('"cut emoji: \\ud83d"')
        elif "deep" in text:
            send("[" * 3000 + "]" * 3000)
            send('{"jsonrpc":"2.0","method":"session/update","params":' + "{\"a\":" * 3000
                 + "1" + "}" * 3000 + "}")
            chunk('"survived the deep lines"')
        elif "garbage" in text:
            sys.stdout.buffer.write(b"\xff\xfe banner \x80\n{not json\n")
            sys.stdout.flush()
            chunk('"survived the garbage"')
        else:
            chunk(json.dumps("echo: " + text))
        send(json.dumps({"jsonrpc": "2.0", "id": rid, "result": {"stopReason": "end_turn"}}))
"""

CONFIG = """
from aegis.builtins.scripted import Scripted, ScriptRule
from aegis.config import Agent, GeminiCLI
from aegis.queue import Queue
from aegis.workflow import workflow

agents = {{
    "hostile": Agent(provider=GeminiCLI(executable={agent!r})),
    "offline": Agent(provider=Scripted(rules=[ScriptRule(match="^hello$", reply="hi there")])),
}}
default_agent = "offline"
queues = [
    Queue("bad", agent_profile="hostile", max_parallel=1),
    Queue("plain", agent_profile="offline", max_parallel=1),
]


@workflow
async def two_sessions(engine):
    hostile = await engine.spawn("hostile")
    offline = await engine.spawn("offline")
    await engine.ask(hostile, "surrogate")
    return await engine.ask(offline, "hello")
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    agent = tmp_path / "hostile-agent"
    agent.write_text(f"#!{sys.executable}\n{HOSTILE_AGENT}")
    agent.chmod(0o755)
    root = tmp_path / "project"
    root.mkdir()
    (root / ".aegis.py").write_text(CONFIG.format(agent=str(agent)))
    return root


def aegis(
    project: Path, *args: str | bytes, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AEGIS), *args],
        cwd=project,
        env=clean_env(home=project),
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
    )


def transcripts(project: Path) -> dict[str, list[dict[str, object]]]:
    return {
        path.parent.name: list(read_records(path))
        for path in project.glob(".aegis/sessions/*/transcript.jsonl")
    }


def texts(records: list[dict[str, object]]) -> str:
    return json.dumps(records, ensure_ascii=False)


def test_a_lone_surrogate_reaches_the_user_replaced_and_every_transcript_goes_on(
    project: Path,
) -> None:
    done = aegis(project, "workflow", "run", "two_sessions")
    assert done.returncode == 0, done.stderr
    assert "hi there" in done.stdout
    written = transcripts(project)
    assert len(written) == 2
    hostile = next(records for records in written.values() if "surrogate" in texts(records))
    offline = next(records for records in written.values() if records is not hostile)
    assert f"cut emoji: {REPLACEMENT}" in texts(hostile)
    # The session that came after the surrogate still has its transcript.
    assert "hi there" in texts(offline)


def test_a_queue_task_whose_worker_emits_a_surrogate_ends_done_and_unblocks_the_queue(
    project: Path,
) -> None:
    first = aegis(project, "queue", "enqueue", "bad", "surrogate", "--wait", "--json")
    assert first.returncode == 0, first.stderr
    task = json.loads(first.stdout)
    assert task["status"] == "done"
    assert task["result"] == f"cut emoji: {REPLACEMENT}"
    second = aegis(project, "queue", "enqueue", "bad", "again", "--wait", "--json")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["result"] == "echo: again"


def test_a_3000_deep_json_line_and_garbage_are_skipped_with_a_diagnostic(project: Path) -> None:
    deep = aegis(project, "ask", "hostile", "deep")
    assert deep.returncode == 0, deep.stderr
    assert deep.stdout.strip() == "survived the deep lines"
    garbage = aegis(project, "ask", "hostile", "garbage")
    assert garbage.returncode == 0, garbage.stderr
    assert garbage.stdout.strip() == "survived the garbage"


@pytest.mark.parametrize("command", [("ask", "offline"), ("queue", "enqueue", "plain")])
def test_an_argument_that_is_not_utf8_is_taken_with_a_replacement_character(
    project: Path, command: tuple[str, ...]
) -> None:
    done = aegis(project, *command, b"\xff")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    if command[0] == "queue":
        task_id = done.stdout.strip()
        shown = aegis(project, "queue", "show", task_id, "--json")
        assert json.loads(shown.stdout)["payload"] == REPLACEMENT
    else:
        records = texts(next(iter(transcripts(project).values())))
        assert f'"text": "{REPLACEMENT}"' in records
