"""Fixtures of the core tests: an isolated home and project folder, and plugin selection."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aegis.plugins import reset_plugins


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ``HOME``, so that no real ``~/.aegis.py`` is found."""
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    return folder


@pytest.fixture
def project(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder, made the current directory."""
    folder = tmp_path / "project"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def write_config(project: Path) -> Callable[[str], Path]:
    """Write ``.aegis.py`` in the project folder; returns its path."""

    def write(text: str) -> Path:
        path = project / ".aegis.py"
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def only_plugins() -> Iterator[Callable[[str], None]]:
    """Load only some plugins in this process, as ``AEGIS_PLUGINS=...`` does.

    The previous plugin selection is restored (and the plugins reloaded) afterwards.
    """
    before = os.environ.get("AEGIS_PLUGINS")

    def select(names: str) -> None:
        os.environ["AEGIS_PLUGINS"] = names
        reset_plugins()

    yield select
    if before is None:
        os.environ.pop("AEGIS_PLUGINS", None)
    else:
        os.environ["AEGIS_PLUGINS"] = before
    reset_plugins()
