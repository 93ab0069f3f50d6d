"""Damaged state ends in one line naming the damage and the way out, and nothing is lost."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.state.conftest import aegis


def enqueue_some(root: Path, count: int = 40) -> None:
    """Tasks with some bulk, then checkpointed, so that the database file holds them."""
    from aegis.queue.sqlite_backend import SqliteQueueBackend

    backend = SqliteQueueBackend.for_state_dir(root / ".aegis")
    for n in range(count):
        backend.add("work", f"task {n} " + "x" * 2000)
    backend.close()
    db = sqlite3.connect(root / ".aegis" / "queue.db")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def empty(path: Path) -> None:
    path.write_bytes(b"")


def garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database\n" * 50)


def truncated(path: Path) -> None:
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size // 3)


DAMAGE: dict[str, tuple[str, Callable[[Path], None]]] = {
    "queue.db emptied": ("queue.db", empty),
    "queue.db garbage": ("queue.db", garbage),
    "queue.db truncated": ("queue.db", truncated),
    "inbox.db emptied": ("inbox.db", empty),
    "inbox.db garbage": ("inbox.db", garbage),
    "questions.db garbage": ("questions.db", garbage),
    "usage.db garbage": ("usage.db", garbage),
}


def assert_one_line_error(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 1
    stderr = done.stderr
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert lines[0].startswith("error: "), stderr
    assert any(line.strip().startswith("hint: ") for line in lines[1:]), stderr
    for word in words:
        assert word in stderr, stderr


@pytest.mark.parametrize("case", DAMAGE)
def test_a_damaged_database_is_refused_and_repair_moves_it_aside(project: Path, case: str) -> None:
    name, damage = DAMAGE[case]
    enqueue_some(project)
    assert aegis(project, "queue", "list").returncode == 0
    path = project / ".aegis" / name
    for companion in ("-wal", "-shm"):
        path.with_name(name + companion).unlink(missing_ok=True)
    damage(path)
    damaged_bytes = path.read_bytes()

    for args in (("queue", "list"), ("queue", "tasks"), ("queue", "enqueue", "work", "hi")):
        assert_one_line_error(aegis(project, *args), f"{name} is damaged", "aegis repair")
    assert path.read_bytes() == damaged_bytes  # refused: nothing was started afresh over it

    repaired = aegis(project, "repair")
    assert repaired.returncode == 0, repaired.stderr
    assert f"repaired  {path}" in repaired.stdout
    [moved] = path.parent.glob(f"{name}.damaged-*")
    assert moved.read_bytes() == damaged_bytes  # set aside, not deleted
    assert f"now {moved}" in repaired.stdout
    again = aegis(project, "queue", "enqueue", "work", "hello")
    assert again.returncode == 0, again.stderr


def test_a_file_named_aegis_is_refused_and_repair_moves_it_aside(project: Path) -> None:
    (project / ".aegis").write_text("someone's notes")
    for args in (
        ("queue", "list"),
        ("queue", "enqueue", "work", "hi"),
        ("ask", "offline", "hello"),
    ):
        assert_one_line_error(aegis(project, *args), ".aegis is not a folder", "aegis repair")

    repaired = aegis(project, "repair")
    assert repaired.returncode == 0, repaired.stderr
    [moved] = project.glob(".aegis.damaged-*")
    assert moved.read_text() == "someone's notes"
    assert (project / ".aegis").is_dir()
    assert aegis(project, "ask", "offline", "hello").returncode == 0


def test_repair_leaves_healthy_state_alone(project: Path) -> None:
    enqueue_some(project, count=3)
    repaired = aegis(project, "repair", "--json")
    assert repaired.returncode == 0, repaired.stderr
    assert '"problem": null' in repaired.stdout and "damaged" not in repaired.stdout
    assert not list((project / ".aegis").glob("*.damaged-*"))
    listed = aegis(project, "queue", "tasks", "--json")
    assert listed.stdout.count('"payload"') == 3


def test_a_database_aegis_did_not_make_is_refused(project: Path) -> None:
    (project / ".aegis").mkdir()
    other = sqlite3.connect(project / ".aegis" / "queue.db")
    other.execute("CREATE TABLE notes (text TEXT)")
    other.commit()
    other.close()
    assert_one_line_error(aegis(project, "queue", "list"), "queue.db is damaged", "did not make")
