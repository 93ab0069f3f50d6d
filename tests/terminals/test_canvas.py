"""Shared canvases through the MCP plane: concurrent section writes, external edits, wake-ups.

Several sessions (the in-process fake agents of the MCP tests) call the canvas tools
with their own tokens, at once; a subscribed session is told through the real inbox
router, once per change made by someone else.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from aegis.canvas import parse
from aegis.workflow import WorkflowEngine, workflow
from aegis.workflow import registry as workflow_registry
from tests.mcp.support import as_agent, ok, running, spawn
from tests.support.waiting import until

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_workers")]

WRITERS = 8
WRITES_EACH = 25
IN_FLIGHT = 5
"""Calls one session has going at once (its CLI's MCP client is no firehose)."""


async def test_concurrent_section_writes_lose_nothing_and_subscribers_are_told_once(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as runtime:
        writers = [await spawn(runtime, "helper") for _ in range(WRITERS)]
        reader = await spawn(runtime, "lead")
        async with as_agent(reader) as client:
            opened = ok(await client.call_tool("aegis_canvas_open", {"name": "plan"}))
            assert opened["path"].endswith(".aegis/canvases/plan.md")
            ok(await client.call_tool("aegis_canvas_subscribe", {"name": "plan"}))
        first = writers[0]
        async with as_agent(first) as client:  # a writer subscribed is not told of its own
            ok(await client.call_tool("aegis_canvas_subscribe", {"name": "plan"}))

        async def write_all(index: int) -> None:
            limiter = anyio.CapacityLimiter(IN_FLIGHT)

            async def append(client: object, n: int) -> None:
                async with limiter:
                    args = {"name": "plan", "section": f"S{n % 5}", "text": f"w{index}-{n}"}
                    await _call(client, "aegis_canvas_append", args)

            async with as_agent(writers[index]) as client, anyio.create_task_group() as tg:
                for n in range(WRITES_EACH):
                    tg.start_soon(append, client, n)
                # One section of its own, replaced: the last write wins.
                await _call(
                    client,
                    "aegis_canvas_write",
                    {"name": "plan", "section": f"Own {index}", "text": "mine"},
                )

        async with anyio.create_task_group() as tg:
            for index in range(WRITERS):
                tg.start_soon(write_all, index)

        path = Path(opened["path"])
        text = path.read_text()
        sections = {s.title: s.body for s in parse(text)}
        for index in range(WRITERS):
            for n in range(WRITES_EACH):
                assert f"w{index}-{n}\n" in sections[f"S{n % 5}"]
            assert sections[f"Own {index}"].strip() == "mine"
        assert set(sections) == {
            "",
            *(f"Own {i}" for i in range(WRITERS)),
            *(f"S{i}" for i in range(5)),
        }
        assert len(parse(text)) == len(sections)  # each section once: a valid file
        changes = await runtime.canvases.ledger("plan")
        total = WRITERS * (WRITES_EACH + 1)
        assert len(changes) == total
        assert {c.by for c in changes} == {w.handle for w in writers}

        # Every change reached the reader once; the first writer heard of the others' only.
        def told(prompts: list[str]) -> list[str]:
            return [p for p in prompts if "Canvas plan:" in p]

        await until(lambda: len(told(reader.driver.prompts)) >= total, timeout=60)
        others = total - (WRITES_EACH + 1)
        await until(lambda: len(told(first.driver.prompts)) >= others, timeout=60)
        await anyio.sleep(0.3)  # time for a duplicate to arrive, if one were sent
        assert len(told(reader.driver.prompts)) == total
        assert len(told(first.driver.prompts)) == others
        assert not any(first.handle + " appended" in p for p in first.driver.prompts)


async def _call(client: object, name: str, args: dict[str, object]) -> None:
    ok(await client.call_tool(name, args))  # type: ignore[attr-defined]


async def test_a_persons_edit_between_two_writes_is_kept(tmp_path: Path) -> None:
    async with running(tmp_path) as runtime:
        agent = await spawn(runtime, "lead")
        async with as_agent(agent) as client:
            ok(await client.call_tool("aegis_canvas_open", {"name": "spec", "path": "SPEC.md"}))
            ok(
                await client.call_tool(
                    "aegis_canvas_write", {"name": "spec", "section": "Goal", "text": "fast"}
                )
            )
            path = tmp_path / "SPEC.md"
            # A person edits the file in an editor: a line of the preamble and a new section.
            path.write_text("# Spec\n\n" + path.read_text() + "\n## Notes\n\nby hand\n")
            ok(
                await client.call_tool(
                    "aegis_canvas_write", {"name": "spec", "section": "Goal", "text": "faster"}
                )
            )
            read = ok(await client.call_tool("aegis_canvas_read", {"name": "spec"}))
            notes = ok(
                await client.call_tool("aegis_canvas_read", {"name": "spec", "section": "Notes"})
            )
            preamble = ok(
                await client.call_tool("aegis_canvas_read", {"name": "spec", "section": ""})
            )
        assert read["text"] == "# Spec\n\n## Goal\nfaster\n\n## Notes\n\nby hand\n"
        assert notes["text"] == "by hand"
        assert preamble["text"] == "# Spec"
        [first, second] = await runtime.canvases.ledger("spec")
        assert (second.by, second.section, second.added, second.removed) == (
            agent.handle,
            "Goal",
            1,
            1,
        )
        assert first.added == 1


async def test_a_workflow_writes_a_canvas_as_itself(tmp_path: Path) -> None:
    @workflow
    async def canvas_test_findings(engine: WorkflowEngine) -> str:
        """Write a finding."""
        await engine.canvas_open("findings")
        await engine.canvas_append("findings", "Bugs", "one")
        await engine.canvas_append("findings", "Bugs", "two")
        return await engine.canvas_read("findings", "Bugs")

    try:
        async with running(tmp_path) as runtime:
            agent = await spawn(runtime, "lead")
            await runtime.canvases.open("findings", by="user")
            await runtime.canvases.subscribe("findings", agent.handle)
            record = await runtime.workflows.run("canvas_test_findings", {})
            assert (record.status.value, record.result) == ("ok", "one\ntwo")
            changes = await runtime.canvases.ledger("findings")
            assert {c.by for c in changes} == {f"workflow:{record.id}"}
            await until(
                lambda: sum("Canvas findings:" in p for p in agent.driver.prompts) == 2, timeout=20
            )
    finally:
        workflow_registry._project.pop("canvas_test_findings", None)
