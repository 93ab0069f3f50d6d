"""Private state on disk: every folder aegis makes is 0700, every file 0600.

What aegis keeps under ``.aegis/`` is the users' conversations (transcripts, the
inbox, task payloads and results, run records) and the MCP plane's tokens: no other
user of the machine may read it, whatever the umask. So folders and files are
created through these helpers and nothing else:

* :func:`private_dir` makes (or checks) a folder, owner-only;
* :func:`open_private` creates or opens a file, owner-only;
* :func:`write_private` replaces a file's content atomically (a temporary file
  beside it, then ``os.replace``), owner-only.

``mode`` arguments to ``mkdir``/``open`` are masked by the umask, which can only
remove bits: a umask of 022 or 077 still gives 0700 and 0600. Only a folder that
already exists can be too open (made by an older aegis, or by hand), so
:func:`private_dir` tightens one it finds; that alone puts everything below it out
of other users' reach.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from aegis.errors import StateError

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path, *, exist_ok: bool = True) -> Path:
    """Make folder ``path`` (and its missing parents) owner-only; return it.

    An existing folder keeps its content and is tightened to 0700. With
    ``exist_ok=False`` an existing ``path`` raises ``FileExistsError`` (taking a
    name by creating its folder). A file where the folder should be is a
    :class:`StateError` saying how to get out of it.
    """
    missing: list[Path] = []
    here = path
    while not here.exists() and not here.is_symlink() and here != here.parent:
        missing.append(here)
        here = here.parent
    _require_dir(here)
    if not missing:
        if not exist_ok:
            raise FileExistsError(f"{path} exists")
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(DIR_MODE)
        return path
    for folder in reversed(missing):
        try:
            folder.mkdir(DIR_MODE)
        except FileExistsError:
            # Made meanwhile by another process: fine, unless it was the one we wanted.
            if folder == path and not exist_ok:
                raise
            _require_dir(folder)
    return path


def _require_dir(path: Path) -> None:
    if not path.is_dir():
        raise StateError(
            f"{path} is not a folder: aegis keeps its state there",
            path=str(path),
            hint=f"move the file away (mv {path} {path}.file), or run `aegis repair`",
        )


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_APPEND) -> int:
    """A file descriptor of ``path``, created owner-only if missing (``os.O_CREAT`` is added)."""
    fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
            os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_private(path: Path, data: str | bytes) -> None:
    """Replace ``path``'s content with ``data`` atomically: readers see the old or the new.

    The temporary file is private from its creation, and its name is unique to this
    process and thread, so two writers of one file never share it. A failure (a
    full disk) leaves the old content and no temporary file.
    """
    raw = data.encode() if isinstance(data, str) else data
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{id(raw):x}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def unusable(path: Path, exc: OSError) -> StateError:
    """``exc``, met while writing aegis's state at ``path``, explained for people."""
    if exc.errno == errno.ENOSPC:
        return disk_full(path)
    return StateError(
        f"cannot use {path}: {exc.strerror or exc}",
        path=str(path),
        hint=f"check the permissions and the disk of {path.parent}",
        transient=exc.errno in (errno.EIO, errno.EDQUOT),
    )


def disk_full(path: Path) -> StateError:
    """The error of a change to ``path`` refused for want of space (worth retrying)."""
    return StateError(
        f"no space left on the disk holding {path}: the change was not saved",
        path=str(path),
        hint=f"free some space on the disk of {path.parent} (`df -h {path.parent}`), then retry",
        transient=True,
    )
