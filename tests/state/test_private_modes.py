"""Everything aegis keeps under ``.aegis/`` is readable by its owner only, whatever the umask."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

from tests.state.conftest import aegis


def modes(root: Path) -> dict[str, int]:
    """The permission bits of ``root`` and of everything below it, by relative path."""
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def test_every_folder_is_0700_and_every_file_0600_under_umask_022(project: Path) -> None:
    for args in (
        ("queue", "enqueue", "work", "hello", "--wait"),
        ("workflow", "run", "greet"),
        ("ask", "offline", "hello"),
    ):
        done = aegis(project, *args, umask=0o022)
        assert done.returncode == 0, done.stderr
    found = modes(project / ".aegis")
    names = set(found)
    # What a user's conversations sit in: each kind is there, so each was checked.
    for expected in ("queue.db", "inbox.db", "questions.db", "workflows", "sessions", "scripted"):
        assert expected in names, sorted(names)
    assert any(n.endswith("transcript.jsonl") for n in names)
    assert any(n.endswith("session.json") for n in names)
    assert any(n.startswith("workflows/") and n.endswith(".json") for n in names)
    assert any(n.startswith("scripted/") for n in names)
    too_open = {
        name: oct(mode)
        for name, mode in found.items()
        if mode != (0o700 if (project / ".aegis" / name).is_dir() else 0o600)
    }
    assert too_open == {}


def test_the_sqlite_companion_files_are_0600_while_a_database_is_open(project: Path) -> None:
    from aegis.queue.sqlite_backend import SqliteQueueBackend

    previous = os.umask(0o022)
    try:
        backend = SqliteQueueBackend.for_state_dir(project / ".aegis")
        try:
            backend.add("work", "hello")
            companions = {
                p.name: stat.S_IMODE(p.stat().st_mode) for p in (project / ".aegis").iterdir()
            }
        finally:
            backend.close()
    finally:
        os.umask(previous)
    assert {"queue.db", "queue.db-wal", "queue.db-shm"} <= set(companions)
    assert set(companions.values()) == {0o600}


def test_state_left_open_by_an_older_aegis_is_closed_and_kept_on_first_use(project: Path) -> None:
    from aegis.queue.sqlite_backend import _SCHEMA

    state = project / ".aegis"
    (state / "sessions").mkdir(parents=True)
    # A queue database as an aegis without the application id made it, 0644.
    old = sqlite3.connect(state / "queue.db", isolation_level=None)
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            old.execute(statement)
    old.execute(
        "INSERT INTO tasks (id, queue, payload, sender, callback, status, created_at)"
        " VALUES ('1m000000000000000', 'work', 'kept', 'user', 0, 'queued', 0)"
    )
    old.close()
    (state / "queue.db").chmod(0o644)
    state.chmod(0o755)

    done = aegis(project, "queue", "tasks", "--json")
    assert done.returncode == 0, done.stderr
    assert '"payload": "kept"' in done.stdout  # adopted, not refused
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "queue.db").stat().st_mode) == 0o600
