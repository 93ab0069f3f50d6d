"""What the TUI's terminal tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.tmux import Tmux


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    """A real terminal (tmux) in the test's folder, killed after the test."""
    terminal = Tmux(tmp_path)
    yield terminal
    terminal.kill()
