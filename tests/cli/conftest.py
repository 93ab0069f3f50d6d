"""What the CLI's terminal tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.tmux import Tmux


@pytest.fixture
def tmux(project: Path) -> Iterator[Tmux]:
    """A real terminal (tmux) in the module's ``project``, killed after the test."""
    terminal = Tmux(project)
    yield terminal
    terminal.kill()
