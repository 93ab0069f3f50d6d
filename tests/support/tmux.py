"""A real terminal for tests of the ``aegis`` command: a tmux server of the test's own.

Its socket lives in the test's folder, so tests never meet each other's (or the
developer's) tmux. The command runs in a window of a fixed size; :meth:`Tmux.screen`
is what a person would see.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path


class Tmux:
    """A tmux server running one command in a ``width`` x ``height`` window."""

    def __init__(self, cwd: Path, *, width: int = 110, height: int = 32) -> None:
        assert shutil.which("tmux"), "tmux is needed (Debian: apt-get install tmux)"
        self.socket = str(cwd / f"tmux-{uuid.uuid4().hex[:6]}.sock")
        self.cwd = cwd
        self.size = (width, height)

    def _run(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-S", self.socket, *args], capture_output=True, text=True, check=True
        )
        return done.stdout

    def start(self, command: str, env: dict[str, str] | None = None) -> None:
        """Run ``command`` (a shell command line) in the window, with ``env``."""
        env = dict(env if env is not None else os.environ)
        env["TERM"] = "xterm-256color"
        width, height = self.size
        subprocess.run(
            ["tmux", "-S", self.socket, "-f", "/dev/null", "new-session", "-d", "-s", "aegis",
             "-x", str(width), "-y", str(height), "-c", str(self.cwd), command],
            check=True, env=env,
        )  # fmt: skip

    def start_aegis(self, project: Path, *args: str) -> None:
        """Run ``aegis ARGS`` in the window, in ``project``'s clean environment (its own
        HOME); ``aegis-exited-N`` shows its exit status once it ends, and the window
        stays, with what it printed."""
        from tests.fixtures.fakes import AEGIS, clean_env

        command = " ".join([str(AEGIS), *args])
        self.start(f"{command}; echo aegis-exited-$?; sleep 60", env=clean_env(home=project))

    def keys(self, *keys: str) -> None:
        """Type ``keys`` (tmux key names such as ``Enter``, ``C-c``, ``Up``, or text)."""
        self._run("send-keys", "-t", "aegis", *keys)

    def paste(self, path: Path) -> None:
        """Paste the text of the file ``path`` as a terminal does: bracketed if the command
        asked for that, line breaks sent as CR."""
        self._run("load-buffer", "-b", "paste", str(path))
        self._run("paste-buffer", "-p", "-b", "paste", "-t", "aegis")

    def pane_pid(self) -> int:
        """The pid of the window's first process: the shell running the command."""
        return int(self._run("display-message", "-p", "-t", "aegis", "#{pane_pid}"))

    def screen(self) -> str:
        return self._run("capture-pane", "-p", "-t", "aegis")

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """Wait until the screen matches the regular expression ``pattern``; the match."""
        found: list[re.Match[str]] = []

        def matches(screen: str) -> bool:
            match = re.search(pattern, screen, re.MULTILINE)
            found.extend([match] if match else [])
            return match is not None

        self.wait_until(matches, timeout, what=repr(pattern))
        return found[0]

    def wait_until(
        self, check: Callable[[str], bool], timeout: float = 30.0, *, what: str = "the check"
    ) -> str:
        """Wait until ``check(screen)`` holds; the screen then."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if check(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} never held; the screen:\n{screen}")
            time.sleep(0.1)

    def kill(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True)
