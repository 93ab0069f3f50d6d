"""The real claude CLI (against the fake model): the usage it reports for each turn is what
the ledger records, so ``aegis usage`` totals equal the sum of its transcripts' turns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aegis.config.loader import load_project
from aegis.runtime import Runtime
from aegis.session.transcript import read_records
from aegis.testing.fakemodel import FakeModelServer, Reply, Script
from aegis.testing.fakemodel import Usage as ModelUsage
from tests.fixtures.fakes import aegis_in
from tests.support.clis import claude_env

pytestmark = pytest.mark.anyio

CONFIG = """
from aegis.config import Agent, ClaudeCode
from aegis.queue import Queue

agents = {{"main": Agent(provider=ClaudeCode(executable={executable!r}, env={env!r}))}}
default_agent = "main"
queues = [Queue("work", agent_profile="main", max_parallel=1)]
"""

FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


async def test_claude_turns_total_in_aegis_usage_as_its_transcripts_say(tmp_path: Path) -> None:
    script = (
        Script()
        .on(r"first", Reply(text="one", usage=ModelUsage(1200, 30)))
        .on(r"second", Reply(text="two", usage=ModelUsage(2300, 45)))
        .on(r"task", Reply(text="done", usage=ModelUsage(800, 12)))
    )
    with FakeModelServer(script) as model:
        claude = claude_env(tmp_path / "claude", model.url)
        (tmp_path / ".aegis.py").write_text(
            CONFIG.format(executable=str(claude.executable), env=claude.env)
        )
        async with Runtime(load_project([tmp_path / ".aegis.py"]), mcp=False) as runtime:
            handle = await runtime.sessions.spawn("main")
            assert (await runtime.sessions.request(handle, "first")).ok
            assert (await runtime.sessions.request(handle, "second")).ok
            task_id = await runtime.queues.enqueue("work", "a task")
            task = await runtime.queues.wait(task_id, timeout=120)
            await runtime.sessions.close(handle)
    assert task.status.value == "done"
    sums: dict[str, dict[str, float]] = {}
    for transcript in (tmp_path / ".aegis" / "sessions").glob("*/transcript.jsonl"):
        for record in read_records(transcript):
            if record["type"] == "turn_end" and record["usage"]:
                row = sums.setdefault(transcript.parent.name, dict.fromkeys(FIELDS, 0))
                for name in FIELDS:
                    row[name] += record["usage"][name]
                row["cost_usd"] = row.get("cost_usd", 0.0) + (record["usage"]["cost_usd"] or 0.0)
    report = json.loads(aegis_in(tmp_path, "usage", "--by", "session", "--json").stdout)
    by_session = {
        g["key"]: {name: g[name] for name in (*FIELDS, "cost_usd")} for g in report["groups"]
    }
    assert by_session.keys() == sums.keys() and len(sums) == 2
    for key, row in sums.items():
        assert by_session[key] == pytest.approx(row)
    # The fake model's token counts come through as claude reports them, with its cost.
    assert report["total"]["output_tokens"] == 30 + 45 + 12
    assert report["total"]["cost_usd"] is not None and report["total"]["cost_usd"] > 0
    per_queue = json.loads(aegis_in(tmp_path, "usage", "--by", "queue", "--json").stdout)
    assert {g["key"]: g["turns"] for g in per_queue["groups"]} == {"work": 1, None: 2}
