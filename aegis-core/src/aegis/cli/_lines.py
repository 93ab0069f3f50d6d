"""Where ``aegis chat`` reads its lines: a line editor on a terminal, plain lines otherwise.

On a terminal the prompt belongs to prompt_toolkit's line editor: it is drawn by the
editor, replies printed meanwhile appear above it (never on the prompt's line), and
what was typed is kept in a history file of the project (Up recalls it). Elsewhere
(a pipe, a file) lines are read as they come, with no prompt.

prompt_toolkit is imported here only, when chat starts on a terminal: ``aegis
--version`` and the other commands never load it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import click

from aegis.cli._render import ConsoleRenderer

HISTORY_FILE = "chat_history"
"""The file under ``.aegis/`` that keeps what was typed in ``aegis chat``."""

PROMPT = "> "


def line_source(
    state_dir: Path, renderer: ConsoleRenderer, *, leave: str = "leaves"
) -> TerminalLines | StreamLines:
    """The line editor when stdin and stdout are a terminal, else plain lines.

    ``renderer`` prints the session's events meanwhile: the editor has it print by
    whole lines while the prompt is on screen. ``leave``: what Ctrl+D does, for the
    reminder Ctrl+C at the prompt prints (``(Ctrl+D leaves)``).
    """
    if sys.stdin.isatty() and sys.stdout.isatty():
        return TerminalLines(state_dir / HISTORY_FILE, renderer, leave=leave)
    return StreamLines()


class StreamLines:
    """Lines from standard input as they come (a pipe, a file, a terminal without stdout)."""

    async def read(self) -> str | None:
        if sys.stdin.isatty():
            click.echo(PROMPT, nl=False, err=True)
        line = await anyio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
        return line.rstrip("\n") if line else None


class TerminalLines:
    """Lines typed at a terminal, through prompt_toolkit, with a persistent history."""

    def __init__(
        self, history_path: Path, renderer: ConsoleRenderer, *, leave: str = "leaves"
    ) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory

        _private_file(history_path)
        self.history_path = history_path
        self.renderer = renderer
        self.leave = leave
        self._session: PromptSession[str] = PromptSession(history=FileHistory(history_path))

    async def read(self) -> str | None:
        while True:
            try:
                with self._prompting():
                    # handle_sigint=False: the editor reads Ctrl+C as a key; the
                    # SIGINT handler stays the command's (it interrupts a turn).
                    return await self._session.prompt_async(PROMPT, handle_sigint=False)
            except EOFError:
                return None
            except KeyboardInterrupt:
                click.secho(f"(Ctrl+D {self.leave})", dim=True, err=True)

    @contextmanager
    def _prompting(self) -> Iterator[None]:
        """While the prompt is shown, whatever is printed (a message another agent or a
        queue sends, and the reply to it) goes above it, by whole lines."""
        from prompt_toolkit.patch_stdout import patch_stdout

        self.renderer.whole_lines = True
        try:
            with patch_stdout(raw=True):  # raw: keep the colours of the notes
                yield
        finally:
            self.renderer.whole_lines = False


def _private_file(path: Path) -> None:
    """Create ``path`` readable by its owner only (it holds what was typed to agents)."""
    from aegis.private_files import open_private, private_dir

    private_dir(path.parent)
    os.close(open_private(path))
