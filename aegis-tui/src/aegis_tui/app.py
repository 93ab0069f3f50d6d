"""The aegis Textual application."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.widgets import Footer, Header, Static

from aegis.config.loader import Project, load_project
from aegis.errors import ConfigError


class AegisApp(App[None]):
    """The aegis terminal UI."""

    TITLE = "aegis"
    BINDINGS: ClassVar[list[BindingType]] = [("q", "quit", "Quit")]

    def __init__(self, project: Project | None, error: str | None = None) -> None:
        super().__init__()
        self.project = project
        self.error = error

    def compose(self) -> ComposeResult:
        yield Header()
        if self.project is None:
            yield Static(f"[b red]configuration error[/]\n\n{self.error}", id="error")
        else:
            lines = [f"[b]{self.project.path}[/]", ""]
            for name, agent in self.project.agents.items():
                marker = " (default)" if name == self.project.default_agent else ""
                lines.append(f"  [b]{name}[/]{marker}: {agent.harness} {agent.model or ''}")
            yield Static("\n".join(lines), id="profiles")
        yield Footer()


def run_app(
    *, search_paths: Sequence[Path] | None, profile: str | None = None, clean: bool = False
) -> None:
    """Load the project and run the app until the user quits."""
    try:
        project: Project | None = load_project(search_paths)
        error = None
    except ConfigError as exc:
        project, error = None, str(exc)
    AegisApp(project, error).run()
