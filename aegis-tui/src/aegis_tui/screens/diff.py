"""The diff view: what an agent changed in its git worktree, per tab or per queue task.

A header with the branch, its base, its state and the stat; the files changed with
their +/-; the full diff, syntax-highlighted. It reads the worktree directly (git
runs off the event loop), so it works whether the session is live or ended, and
with or without the daemon.
"""

from __future__ import annotations

from typing import ClassVar

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from aegis.workspace import DiffStat, WorkspaceError, WorktreeRecord, Worktrees
from aegis_tui.widgets.key_bar import KeyBar

KEYS = (("esc", "Back"), ("f5", "Refresh"), ("pgup/pgdn", "Scroll"))

ENDED = ("landed", "discarded", "removed")


def stat_text(record: WorktreeRecord, stat: DiffStat | None) -> Text:
    """The header: ``aegis/x → main · kept · 2 files changed, +5 -1``."""
    text = Text(" ")
    text.append(record.branch, style="bold")
    text.append(f" → {record.base}", style="dim")
    text.append(f" · {record.state.value} · ")
    if stat is None or stat.empty:
        text.append("no changes", style="dim")
        return text
    count = len(stat.files)
    text.append(f"{count} file{'s' if count != 1 else ''} changed, ")
    text.append(f"+{stat.insertions}", style="green")
    text.append(" ")
    text.append(f"-{stat.deletions}", style="red")
    return text


def files_text(stat: DiffStat | None) -> Text:
    """One line per file: its +/- and its path."""
    text = Text()
    for file in stat.files if stat else ():
        added = "bin" if file.added is None else f"+{file.added}"
        deleted = "" if file.deleted is None else f"-{file.deleted}"
        text.append(f" {added:>6}", style="green")
        text.append(f" {deleted:<6} ", style="red")
        text.append(f"{file.path}\n")
    return text


class DiffScreen(Screen[None]):
    """The changes of worktree ``name`` (a session's handle) against its base."""

    DEFAULT_CSS = """
    DiffScreen #diff-title { height: 1; background: $boost; }
    DiffScreen #diff-files { height: auto; max-height: 8; border-bottom: solid $primary-darken-2; }
    DiffScreen #diff-scroll { height: 1fr; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        ("escape", "app.pop_screen", "Back"),
        ("f5", "refresh", "Refresh"),
    ]

    def __init__(self, worktrees: Worktrees, handle: str) -> None:
        super().__init__()
        self.worktrees = worktrees
        self.handle = handle
        self.record: WorktreeRecord | None = None
        self.diff_text = ""
        """The diff shown (empty when there is none)."""

    def compose(self) -> ComposeResult:
        yield Static(Text(f" {self.handle} · reading its worktree…"), id="diff-title")
        yield Static(id="diff-files")
        with VerticalScroll(id="diff-scroll"):
            yield Static(id="diff-body")
        yield KeyBar(KEYS)

    async def on_mount(self) -> None:
        self.query_one("#diff-scroll").focus()
        await self.reload()

    async def action_refresh(self) -> None:
        await self.reload()

    async def reload(self) -> None:
        """Read the worktree's record, stat and diff again."""
        import anyio

        title = self.query_one("#diff-title", Static)
        files = self.query_one("#diff-files", Static)
        body = self.query_one("#diff-body", Static)
        record = await anyio.to_thread.run_sync(self.worktrees.of_session, self.handle)
        if record is None:
            title.update(Text(f" {self.handle} · no worktree", style="bold"))
            body.update(
                Text(
                    "This session works in the project's folder: its profile has no "
                    "workspace='worktree'.",
                    style="dim",
                )
            )
            return
        self.record = record
        try:
            if record.state.value in ENDED:
                stat, diff = record.stat, ""
            else:
                stat = await self.worktrees.diff_stat(record)
                diff = await self.worktrees.diff(record)
        except WorkspaceError as exc:
            title.update(stat_text(record, record.stat))
            body.update(Text(f"cannot read the worktree: {exc.message}", style="red"))
            return
        self.diff_text = diff
        title.update(stat_text(record, stat))
        files.update(files_text(stat))
        if diff:
            body.update(Syntax(diff, "diff", theme="ansi_dark", word_wrap=False))
        elif record.state.value in ENDED:
            body.update(Text(f"{record.branch} was {record.state.value}.", style="dim"))
        else:
            body.update(Text("No changes yet.", style="dim"))
