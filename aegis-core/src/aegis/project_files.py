"""Where a project is: its ``.aegis.py`` found, and its state folder, without executing it.

Kept apart from :mod:`aegis.config.loader` (which imports the profile models and
pydantic) so that a client of the project's daemon finds the project in a few
milliseconds: the daemon has executed the file itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aegis.errors import ConfigError

CONFIG_NAME = ".aegis.py"
STATE_DIR_NAME = ".aegis"


@dataclass
class ProjectFiles:
    """Where a project is, known without executing its ``.aegis.py``.

    Enough for a client of the project's daemon, which has executed the file itself.
    """

    path: Path
    """The ``.aegis.py`` file."""

    @property
    def root(self) -> Path:
        """The folder holding ``.aegis.py``: sessions work here, state lives under it."""
        return self.path.parent

    @property
    def state_dir(self) -> Path:
        """``<root>/.aegis``: queue database, run records, transcripts, tokens."""
        return self.root / STATE_DIR_NAME


def locate_project(search_paths: Sequence[Path] | None = None) -> ProjectFiles:
    """The project :func:`load_project` would load, found but not executed."""
    return ProjectFiles(find_config(search_paths))


def find_project_root(start: Path | None = None) -> Path | None:
    """Closest ancestor of ``start`` (default: the current directory) containing ``.aegis.py``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    return None


def default_search_paths() -> list[Path]:
    """Where ``.aegis.py`` is looked for: the project root, then the home folder."""
    paths: list[Path] = []
    root = find_project_root()
    if root is not None:
        paths.append(root / CONFIG_NAME)
    paths.append(Path.home() / CONFIG_NAME)
    return paths


def find_config(search_paths: Sequence[Path] | None = None) -> Path:
    """The first existing configuration file among ``search_paths``.

    An entry may be a file, or a folder in which ``.aegis.py`` is looked for.
    """
    candidates = list(search_paths) if search_paths is not None else default_search_paths()
    for candidate in candidates:
        path = Path(candidate).expanduser()
        if path.is_dir():
            path = path / CONFIG_NAME
        if path.is_file():
            return path.resolve()
    raise ConfigError(
        f"no {CONFIG_NAME} found (looked in: {_places_searched(search_paths, candidates)})",
        hint="run `aegis init` in your project folder to write a starter .aegis.py",
    )


def _places_searched(search_paths: Sequence[Path] | None, candidates: Sequence[Path]) -> str:
    """Where the search looked, in its order: by default the current folder and each of
    its parents (what :func:`find_project_root` walks), then the home folder."""
    if search_paths is not None:
        return ", ".join(str(Path(c).expanduser()) for c in candidates) or "nowhere"
    here = Path.cwd().resolve()
    folders = ", ".join(str(folder) for folder in (here, *here.parents))
    return f"{folders}, then {Path.home() / CONFIG_NAME}"
