"""A TUI session on the real claude CLI (pinned, against the fake model), through the
daemon: the app attaches to a daemon that runs claude, talks, detaches, and a second
app attaches to the same live session and shows its whole transcript."""

from __future__ import annotations

from pathlib import Path

import pytest

from aegis.config.loader import load_project
from aegis.testing.fakemodel import FakeModelServer, Reply, Script
from aegis_tui.connection import hosted_daemon
from aegis_tui.screens.quit import QuitChoice
from tests.e2e.test_exit_paths import processes_in
from tests.support.clis import claude_env
from tests.tui.helpers import make_app, ready, transcript, until

pytestmark = pytest.mark.anyio


async def test_a_claude_tab_talks_detaches_and_is_attached_to_again(tmp_path: Path) -> None:
    script = Script().on(r"hello claude", Reply(text="hello from **claude**"))
    with FakeModelServer(script) as model:
        claude = claude_env(tmp_path / "claude", model.url)
        root = tmp_path / "project"
        root.mkdir()
        (root / ".aegis.py").write_text(
            "from aegis.config import Agent, ClaudeCode\n"
            f"agents = {{'lead': Agent(provider=ClaudeCode(executable={str(claude.executable)!r},"
            f" env={claude.env!r}))}}\n"
            "default_agent = 'lead'\n"
        )
        project = load_project([root])
        # The whole runtime (the MCP plane too: claude gets aegis's tools), in this loop.
        async with hosted_daemon(project) as daemon:
            app = make_app(project, client=daemon)
            async with app.run_test(size=(100, 30)) as pilot:
                await app.wait_ready()
                await until(pilot, ready(app, "alpha"), timeout=90)
                assert app.tab_named("alpha").provider == "claude-code"
                await pilot.press(*"hello claude", "enter")
                await until(pilot, lambda: "hello from **claude**" in transcript(app), 90)
                await until(pilot, ready(app, "alpha"))
                assert app.tab_named("alpha").usage.cost_usd
                shown = app.view_of(app.tab_named("alpha")).visible_text()
                assert "hello from claude" in shown  # the Markdown rendered
                await pilot.press("ctrl+q")  # nothing at work: detaches without asking
                await until(pilot, lambda: app.return_code is not None)
            assert not any(isinstance(s, QuitChoice) for s in app.screen_stack)
            assert (await daemon.session("alpha")).state == "ready"  # claude runs on

            again = make_app(project, client=daemon, handles=())
            async with again.run_test(size=(100, 30)) as pilot:
                await again.wait_ready()
                assert [t.handle for t in again.tabs] == ["alpha"]
                text = transcript(again)
                assert "▌ you\nhello claude" in text and "hello from **claude**" in text
                assert again.tab_named("alpha").state == "ready"
                await pilot.press(*"hello claude", "enter")
                await until(
                    pilot, lambda: transcript(again).count("hello from **claude**") == 2, 90
                )
            await daemon.close("alpha")
    assert processes_in(root) == []
