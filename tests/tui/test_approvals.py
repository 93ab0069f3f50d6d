"""A person in the loop, in the TUI.

In a real terminal (tmux), on the real claude CLI (against the fake model), under
permission ``write`` with the profile's rule ``ask=["execute"]``: the agent asks to run a
command, its tab shows "needs you" and a prompt, the person allows it once with ``y``,
and the turn completes; the next request is refused from the list of what waits (f8),
with a reason that reaches the model. And in the app (in-process daemon): a workflow
run's question is listed by f8 and answered there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import anyio
import pytest

from aegis.config.loader import Project, load_project
from aegis.daemon.client import RunEnd
from aegis.testing.fakemodel import FakeModelServer, ModelRequest, Reply, Script, shell_call
from tests.e2e.test_exit_paths import processes_in
from tests.fixtures.fakes import AEGIS, clean_env
from tests.support.clis import claude_env
from tests.support.tmux import Tmux
from tests.tui.helpers import make_app, no_mcp, until, write_project


def _touch(request: ModelRequest) -> Reply:
    name = request.user_text.rsplit(" ", 1)[-1]
    return Reply(tool_calls=[shell_call(request, f"sh -c 'touch {name}'")])


def test_a_person_allows_a_real_claude_s_command_in_its_tab_and_denies_one_from_the_list(
    tmp_path: Path,
) -> None:
    with FakeModelServer(Script().on(r"please touch \S+$", _touch)) as model:
        claude = claude_env(tmp_path / "claude", model.url)
        project = tmp_path / "project"
        project.mkdir()
        (project / ".aegis.py").write_text(
            "from aegis.config import Agent, Approvals, ClaudeCode\n"
            "agents = {'coder': Agent(provider=ClaudeCode(permission='write', "
            f"executable={str(claude.executable)!r}, env={claude.env!r}), "
            "approvals=Approvals(ask=['execute'], timeout=300))}\n"
            "default_agent = 'coder'\n"
        )
        tmux = Tmux(project, width=110, height=32)
        env = {**clean_env(home=project), "SHELL": shutil.which("bash") or "/bin/bash"}
        try:
            tmux.start(f"{AEGIS} --no-daemon; echo aegis-exited-$?; exec sleep 60", env=env)
            tmux.wait_for("session started", timeout=90)
            tmux.keys("please touch allowed-file", "Enter")
            tmux.wait_for(r"1 ◉ \S+ coder .*⚑ needs you", timeout=90)  # on the tab
            tmux.wait_for(r"the agent asks to run Bash: sh -c 'touch allowed-file'")  # its prompt
            tmux.keys("y")
            tmux.wait_for(r"✓ allowed once by client:tui")
            tmux.wait_for(r"tool said:", timeout=90)  # the turn goes on to its end
            tmux.wait_for(r"1 ● ", timeout=60)
            assert (project / "allowed-file").exists()
            assert "needs you" not in tmux.screen().splitlines()[0]  # the tab bar

            tmux.keys("please touch refused-file", "Enter")
            tmux.wait_for(r"⚑ needs you", timeout=90)
            tmux.keys("F8")
            tmux.wait_for(r"approval\s+\S+\s+Bash: sh -c 'touch refused-file'")
            tmux.keys("n")
            tmux.wait_for("the reason the agent is told")
            tmux.keys("not in this folder", "Enter")
            tmux.wait_for(r"nothing waits for you")
            tmux.keys("Escape")
            tmux.wait_for(r"✖ denied by client:tui:\d+: not in this folder")
            tmux.wait_for(r"1 ● ", timeout=90)  # the turn completed
            assert not (project / "refused-file").exists()
            assert any(
                "not in this folder" in result.output
                for request in model.requests
                for result in request.tool_results
            )
            tmux.keys("C-q")
            tmux.wait_for("aegis-exited-0", timeout=60)
            # Nothing of aegis's is left: no daemon, no claude (the window's `sleep` is its own).
            assert processes_in(project, exclude=tmux.pane_pid()) == []
        finally:
            tmux.kill()


QUESTION_WORKFLOW = """

@workflow
async def release(engine):
    return await engine.ask_human("Ship it?", options=["yes", "no"])
"""


@pytest.mark.anyio
async def test_questions_of_a_workflow_and_an_agent_are_answered_from_the_list(
    tmp_path: Path,
) -> None:
    from aegis.runtime import Runtime
    from aegis_tui.connection import HostDaemon
    from aegis_tui.screens.needs_you import NeedsYouScreen

    write_project(tmp_path)
    config = tmp_path / ".aegis.py"
    config.write_text(config.read_text() + QUESTION_WORKFLOW)
    runtimes: list[Runtime] = []

    def runtime(project: Project) -> Runtime:
        runtimes.append(no_mcp(project))
        return runtimes[-1]

    app = make_app(load_project([tmp_path]), connection=HostDaemon(runtime), queue_poll=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        client = app.client
        assert client is not None
        record = await client.run_workflow("release", {})

        async def asked() -> bool:
            return bool(await client.questions())

        await until(pilot, asked, 30)
        await pilot.press("f8")
        screen = app.screen
        assert isinstance(screen, NeedsYouScreen)
        await until(pilot, lambda: [i.kind for i in screen.items] == ["question"])
        assert screen.items[0].what == "Ship it?" and screen.items[0].options == ("yes", "no")
        await pilot.press("enter")  # the options to pick from
        await pilot.press("enter")  # the first: yes
        with anyio.fail_after(30):
            async for item in client.workflow_log(record.id):
                if isinstance(item, RunEnd):
                    assert item.run.result == "yes"
                    break
        await until(pilot, lambda: screen.items == [])
        await pilot.press("escape")

        # An agent's question marks its tab, until it is answered from the list.
        questions = runtimes[0].questions
        assert questions is not None
        await questions.ask("agent:alpha", "Which branch?")
        await until(pilot, lambda: app.tab_named("alpha").asking)
        await pilot.press("f8")
        screen = app.screen
        assert isinstance(screen, NeedsYouScreen)
        await until(pilot, lambda: [i.asker for i in screen.items] == ["agent:alpha"])
        await pilot.press("enter", *"main", "enter")
        await until(pilot, lambda: not app.tab_named("alpha").asking)
        [answered] = [q for q in await client.questions(all=True) if q.asker == "agent:alpha"]
        assert answered.answer == "main" and answered.answered_by is not None
