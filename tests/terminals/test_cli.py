"""``aegis term`` and ``aegis canvas`` through the project's daemon, attach in a real tmux."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from aegis.terminals import read_ledger
from tests.daemon.conftest import aegis, make_project, stop_daemon
from tests.e2e.test_exit_paths import processes_in
from tests.fixtures.fakes import AEGIS, clean_env
from tests.support.tmux import Tmux

BASH = shutil.which("bash") or "/bin/bash"


def test_terminals_and_canvases_from_the_command_line(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    tmux = Tmux(tmp_path)
    try:
        ran = aegis(
            project, "term", "run", "dev", "--shell", BASH, "--", "echo made-$((6*7)); (exit 3)"
        )
        assert (ran.returncode, ran.stdout) == (3, "made-42\n"), ran.stderr
        [listed] = json.loads(aegis(project, "term", "list", "--json").stdout)
        assert (listed["name"], listed["alive"], listed["integrated"]) == ("dev", True, True)

        # A person attaches, sees what ran, types a command, and detaches with Ctrl+].
        tmux.start(f"{AEGIS} term attach dev", env=clean_env(home=project))
        tmux.wait_for(r"^made-42")
        tmux.keys("echo attached-$((2+3))", "Enter")
        tmux.wait_for(r"^attached-5")
        tmux.keys("C-]")
        tmux.wait_for(r"\[detached from dev\]")
        records = read_ledger(project / ".aegis" / "terminals" / "dev.jsonl")
        assert [(r.command, r.by, r.exit) for r in records] == [
            ("echo made-$((6*7)); (exit 3)", "user", 3),
            ("echo attached-$((2+3))", "user", 0),
        ]

        opened = aegis(project, "canvas", "open", "plan", "--path", "PLAN.md")
        assert opened.stdout.strip() == str((project / "PLAN.md").resolve()), opened.stderr
        assert aegis(project, "canvas", "write", "plan", "Goals", "ship it").returncode == 0
        appended = aegis(project, "canvas", "write", "plan", "Goals", "--append", "test it")
        assert appended.stderr.strip() == "plan: Goals +1 -0"
        shown = aegis(project, "canvas", "show", "plan", "--section", "Goals")
        assert shown.stdout == "ship it\ntest it\n"
        assert (project / "PLAN.md").read_text() == "## Goals\nship it\ntest it\n"
        missing = aegis(project, "canvas", "show", "nope")
        assert missing.returncode == 1
        assert missing.stderr.startswith("error: no canvas 'nope' (open: plan)")
    finally:
        tmux.kill()
        stop_daemon(project)
    assert processes_in(project) == []  # the daemon stopped the terminal's shell
