"""``.aegis/tui.json``: what it keeps, and every way it can be damaged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aegis_tui.state import (
    HISTORY_KEPT,
    BrokenState,
    TabRecord,
    TuiState,
    load_state,
    save_state,
    set_aside,
)


def test_a_saved_state_loads_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / ".aegis" / "tui.json"
    state = TuiState(
        tabs=(TabRecord("alpha", "planner", "s-1"), TabRecord("beta", "worker", None)),
        active=1,
        history=("hello", "list"),
        terminals=("shell", "build"),
        active_terminal="build",
    )
    save_state(path, state)
    assert load_state(path) == state
    assert not path.with_name("tui.json.tmp").exists()  # written aside, then renamed


def test_no_state_file_is_no_state(tmp_path: Path) -> None:
    assert load_state(tmp_path / "tui.json") is None


def test_only_the_newest_history_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "tui.json"
    save_state(path, TuiState(history=tuple(str(n) for n in range(HISTORY_KEPT + 5))))
    loaded = load_state(path)
    assert loaded is not None and loaded.history[0] == "5" and len(loaded.history) == HISTORY_KEPT


def test_an_active_index_out_of_range_is_clamped(tmp_path: Path) -> None:
    path = tmp_path / "tui.json"
    path.write_text(
        json.dumps({"version": 1, "tabs": [{"handle": "a", "profile": "p"}], "active": 9})
    )
    loaded = load_state(path)
    assert loaded is not None and loaded.active == 0


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "does not hold a JSON object"),
        ('{"version": 2}', "has version 2"),
        ('{"version": 1, "tabs": {}}', "`tabs` is not a list"),
        ('{"version": 1, "tabs": [3]}', "tab 1 is not an object"),
        ('{"version": 1, "tabs": [{"profile": "p"}]}', "tab 1 has no handle"),
        ('{"version": 1, "tabs": [{"handle": "h"}]}', "tab 1 has no profile"),
        (
            '{"version": 1, "tabs": [{"handle": "h", "profile": "p", "harness_session_id": 4}]}',
            "harness_session_id that is not a string",
        ),
        ('{"version": 1, "active": "x"}', "`active` is not a number"),
        ('{"version": 1, "history": [1]}', "`history` is not a list of strings"),
        ('{"version": 1, "terminals": ["shell", ""]}', "`terminals` is not a list of names"),
        ('{"version": 1, "terminals": [], "active_terminal": "x"}', "is not one of `terminals`"),
    ],
)
def test_a_damaged_state_file_says_what_is_wrong(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "tui.json"
    path.write_text(content)
    with pytest.raises(BrokenState) as caught:
        load_state(path)
    assert reason in caught.value.reason and caught.value.path == path


def test_a_damaged_file_set_aside_replaces_an_older_broken_one(tmp_path: Path) -> None:
    path = tmp_path / "tui.json"
    (tmp_path / "tui.json.broken").write_text("older")
    path.write_text("newer")
    aside = set_aside(path)
    assert aside == tmp_path / "tui.json.broken" and aside.read_text() == "newer"
    assert not path.exists()
