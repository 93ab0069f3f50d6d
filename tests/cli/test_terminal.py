"""``aegis ask`` and ``aegis chat`` in a real terminal (tmux): prompt, spinner, hints."""

from __future__ import annotations

import re
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.fakes import AEGIS, clean_env
from tests.support.tmux import Tmux

CONFIG = """
from aegis.builtins.scripted import Scripted, ScriptedToolCall, ScriptRule
from aegis.config import Agent

agents = {
    "offline": Agent(provider=Scripted(rules=[
        ScriptRule(match="^hello$", reply="hi there"),
        ScriptRule(match="^two lines$", reply="first\\nsecond"),
        ScriptRule(match="^slow$", reply="late", delay=60),
        ScriptRule(match="^sleeper$", tool_calls=[
            ScriptedToolCall(tool="bash", input={"command": "sleep 60"})], reply="slept"),
        ScriptRule(match="^napper$", tool_calls=[
            ScriptedToolCall(tool="bash", input={"command": "sleep 3"})], reply="napped"),
    ])),
}
default_agent = "offline"
"""

PROMPT = r"^> ?$"
"""The chat prompt, alone on its line (tmux drops trailing spaces)."""
SPINNER = r"[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] {activity} · (\d+)s · ctrl\+c to interrupt"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".aegis.py").write_text(CONFIG)
    return tmp_path


def lines(screen: str) -> list[str]:
    return [line.rstrip() for line in screen.splitlines() if line.strip()]


# --- chat: the prompt belongs to a line editor ---------------------------------------------


def prompt_is_last(count: int) -> Callable[[str], bool]:
    """The screen shows ``count`` replies and the prompt waits below the last one."""

    def check(screen: str) -> bool:
        shown = lines(screen)
        return shown.count("second") == count and shown[-1] == ">"

    return check


def test_chat_prompt_comes_after_the_whole_reply_every_turn(project: Path, tmux: Tmux) -> None:
    tmux.start_aegis(project, "chat")
    tmux.wait_for(PROMPT)
    for turn in range(1, 4):
        tmux.keys("two lines", "Enter")
        tmux.wait_until(prompt_is_last(turn), what=f"the prompt after reply {turn}")
    shown = lines(tmux.screen())
    # Each reply's lines, then the prompt on a line of its own: never `second> `.
    for i, line in enumerate(shown):
        if line == "second":
            assert shown[i + 1].startswith(">"), shown
    assert not any(re.search(r"\S> ?$", line) for line in shown), shown


def test_chat_keeps_a_private_history_per_project_and_says_how_to_come_back(
    project: Path, tmux: Tmux
) -> None:
    tmux.start_aegis(project, "chat")
    tmux.wait_for(PROMPT)
    tmux.keys("hello", "Enter")
    tmux.wait_for(r"^hi there\n" + PROMPT)
    tmux.keys("C-d")
    come_back = tmux.wait_for(r"aegis chat offline --resume (\S+)")
    tmux.wait_for("aegis-exited-0")
    history = project / ".aegis" / "chat_history"
    assert "hello" in history.read_text()
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    tmux.kill()

    again = Tmux(project)
    try:
        again.start(
            f"{AEGIS} chat offline --resume {come_back.group(1)}; sleep 60",
            env=clean_env(home=project),
        )
        again.wait_for(PROMPT)
        again.keys("Up")  # the line typed in the first chat
        again.wait_for(r"^> hello$")
    finally:
        again.kill()


def test_ctrl_c_at_the_chat_prompt_says_how_to_leave_and_keeps_chatting(
    project: Path, tmux: Tmux
) -> None:
    tmux.start_aegis(project, "chat")
    tmux.wait_for(PROMPT)
    tmux.keys("C-c")
    tmux.wait_for(r"\(Ctrl\+D leaves\)\n" + PROMPT)
    tmux.keys("hello", "Enter")
    tmux.wait_for(r"^hi there\n" + PROMPT)


# --- ask: a spinner on a terminal, nothing elsewhere ---------------------------------------


def test_ask_on_a_terminal_shows_what_the_agent_does_and_for_how_long(
    project: Path, tmux: Tmux
) -> None:
    tmux.start_aegis(project, "ask", "offline", "sleeper")
    tmux.wait_for(SPINNER.format(activity="running bash"))
    first = int(tmux.wait_for(SPINNER.format(activity="running bash")).group(1))
    # The elapsed time counts up while the tool runs.
    tmux.wait_until(
        lambda screen: any(
            int(m.group(1)) > first
            for m in re.finditer(SPINNER.format(activity="running bash"), screen)
        ),
        what="the elapsed time to grow",
    )
    tmux.keys("C-c")
    tmux.wait_for("aegis-exited-130")
    assert "ctrl+c to interrupt" not in tmux.screen()  # the spinner's line was erased


def test_ask_spinner_says_thinking_and_leaves_the_answer_clean(project: Path, tmux: Tmux) -> None:
    tmux.start_aegis(project, "ask", "offline", "slow")
    tmux.wait_for(SPINNER.format(activity="thinking"))
    tmux.keys("C-c")
    tmux.wait_for("aegis-exited-130")
    tmux.kill()
    done = subprocess.run(
        ["script", "-qec", f"{AEGIS} ask offline hello", "/dev/null"],
        cwd=project,
        env=clean_env(home=project),
        capture_output=True,
        timeout=60,
    )
    # On a terminal, the answer ends up alone on its line: the spinner erased itself.
    output = done.stdout.decode()
    assert done.returncode == 0, output
    assert output.rsplit("\r\x1b[K", 1)[-1].strip() == "hi there"


def test_ask_without_a_terminal_prints_no_spinner(project: Path) -> None:
    # A tool that runs for seconds: on a terminal, the spinner would redraw 24 times.
    done = subprocess.run(
        [str(AEGIS), "ask", "offline", "napper"],
        cwd=project,
        env=clean_env(home=project),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "napped\n"
    assert "\r" not in done.stderr and "ctrl+c to interrupt" not in done.stderr


# --- ask: a forgotten profile or message ---------------------------------------------------


def test_ask_names_a_forgotten_profile_without_waiting_for_stdin(project: Path) -> None:
    # `aegis ask hello`: "hello" is taken for the profile; stdin stays open (a terminal
    # would too), and aegis must not wait on it before saying so.
    ask = subprocess.Popen(
        [str(AEGIS), "ask", "hello"],
        cwd=project,
        env=clean_env(home=project),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, err = ask.communicate(timeout=60)
    finally:
        if ask.poll() is None:
            ask.kill()
            ask.wait()
    assert ask.returncode == 1
    assert err.splitlines() == ["error: no agent profile 'hello'", "  hint: profiles: offline"]


def test_ask_without_a_message_on_a_terminal_says_what_it_waits_for(
    project: Path, tmux: Tmux
) -> None:
    tmux.start_aegis(project, "ask", "offline")
    tmux.wait_for("reading the message from the terminal: type it, then press Ctrl\\+D")
    tmux.keys("hello", "Enter", "C-d")
    tmux.wait_for(r"^hi there$")
    tmux.wait_for("aegis-exited-0")
