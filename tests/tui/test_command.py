"""The ``aegis`` command opens the TUI: bare and as ``aegis tui``, in a real terminal (tmux)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from aegis.cli import AegisGroup, cli
from aegis.session.transcript import read_records
from tests.support.tmux import Tmux
from tests.support.waiting import wait_until
from tests.tui.helpers import write_project


def test_the_plugin_adds_tui_and_makes_it_the_default_command() -> None:
    assert isinstance(cli, AegisGroup)
    cli.load_plugin_commands()
    assert cli.default_command == "tui"
    result = CliRunner().invoke(cli, ["tui", "--help"])
    assert result.exit_code == 0
    assert "--profile" in result.output and "--clean" in result.output


def test_loading_the_plugin_does_not_import_textual() -> None:
    code = "import sys, aegis_tui.plugin; print('textual' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_an_unknown_profile_is_refused_with_the_profiles_there_are(tmp_path: Path) -> None:
    write_project(tmp_path)
    result = CliRunner().invoke(cli, ["--config", str(tmp_path), "tui", "--profile", "nobody"])
    assert result.exit_code == 2
    assert "no agent profile 'nobody' (profiles: planner, worker)" in result.output


def test_bare_aegis_opens_the_tui_and_talks_to_the_offline_agent(
    tmp_path: Path, tmux: Tmux
) -> None:
    write_project(tmp_path)
    tmux.start_aegis(tmp_path)
    tmux.wait_for(re.escape("planner [scripted/scripted]"))
    tmux.wait_for("session started")
    tmux.keys("hello", "Enter")
    tmux.wait_for(re.escape("Hi! What shall we build today?"))
    screen = tmux.screen()
    assert "you" in screen and "hello" in screen
    tmux.keys("C-t")
    tmux.wait_for(" 2 ")
    tmux.keys("C-q")
    tmux.wait_for("aegis-exited-0")
    state = (tmp_path / ".aegis" / "tui.json").read_text()
    assert state.count('"handle"') == 2


def sent_messages(root: Path) -> list[str]:
    """The user messages every session of the project received, from the transcripts."""
    texts = []
    for path in sorted((root / ".aegis" / "sessions").glob("*/transcript.jsonl")):
        # read_records: the daemon may be writing the last line as it is read
        texts += [r["text"] for r in read_records(path) if r.get("type") == "user_message"]
    return texts


def test_a_long_paste_is_folded_and_sent_whole_and_ctrl_j_starts_a_new_line(
    tmp_path: Path, tmux: Tmux
) -> None:
    write_project(tmp_path)
    lines = [f"line {n}:\tindented  `code` ✓ {'x' * (n % 7)}  " for n in range(1, 53)]
    lines[10] = ""  # an empty line inside
    pasted = "\n".join(lines)
    (tmp_path / "paste.txt").write_text(pasted)
    tmux.start_aegis(tmp_path)
    tmux.wait_for("session started")
    tmux.keys("look at this: ")
    tmux.paste(tmp_path / "paste.txt")  # bracketed, as the app asked
    tmux.wait_for(re.escape("[pasted 52 lines]"))
    tmux.keys(" thanks", "Enter")
    wait_until(lambda: len(sent_messages(tmp_path)) == 1, 20, "the pasted message")
    assert sent_messages(tmp_path) == [f"look at this: {pasted} thanks"]
    tmux.keys("first line", "C-j", "second line", "Enter")
    wait_until(lambda: len(sent_messages(tmp_path)) == 2, 20, "the two-line message")
    assert sent_messages(tmp_path)[1] == "first line\nsecond line"


def test_alt_digits_switch_tabs_in_a_terminal_that_sends_alt_as_escape(
    tmp_path: Path, tmux: Tmux
) -> None:
    write_project(tmp_path)
    state = tmp_path / ".aegis" / "tui.json"

    def active() -> int:
        try:
            return int(json.loads(state.read_text())["active"])
        except (OSError, ValueError, KeyError):
            return -1

    tmux.start_aegis(tmp_path)
    tmux.wait_for("session started")
    tmux.keys("C-t")
    tmux.wait_for(" 2 ")
    tmux.keys("C-t")
    tmux.wait_for(" 3 ")
    wait_until(lambda: active() == 2, 20, "the third tab active")
    tmux.keys("M-1")  # tmux sends ESC 1, as xterm and most terminals do
    wait_until(lambda: active() == 0, 20, "alt+1 to show the first tab")
    tmux.keys("M-2")
    wait_until(lambda: active() == 1, 20, "alt+2 to show the second tab")
    screen = tmux.screen()
    assert "¡" not in screen and "™" not in screen  # nothing typed into the box
