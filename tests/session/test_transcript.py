"""The transcript writer: order, flushing on close, and a path it cannot write."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from aegis.events import TextDelta, ToolCall
from aegis.session.transcript import TranscriptWriter, read_records


def test_records_keep_their_order_per_session_and_close_writes_them_all(tmp_path: Path) -> None:
    writer = TranscriptWriter(lambda handle: tmp_path / handle / "transcript.jsonl", quiet=0.001)
    writer.start()
    for seq in range(1, 2001):
        writer.put("a" if seq % 3 else "b", seq, TextDelta(text=f"piece {seq}"))
    writer.close()

    a = list(read_records(tmp_path / "a" / "transcript.jsonl"))
    b = list(read_records(tmp_path / "b" / "transcript.jsonl"))
    assert [r["seq"] for r in a] == [s for s in range(1, 2001) if s % 3]
    assert [r["seq"] for r in b] == [s for s in range(1, 2001) if not s % 3]
    assert a[0]["type"] == "text_delta" and a[0]["text"] == "piece 1"
    assert all(isinstance(r["t"], float) for r in a + b)


def test_a_transcript_that_cannot_be_opened_is_logged_and_the_others_are_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where a folder should be")
    paths = {"bad": blocker / "transcript.jsonl", "good": tmp_path / "good.jsonl"}
    writer = TranscriptWriter(paths.__getitem__, quiet=0.001)
    writer.start()
    with caplog.at_level(logging.ERROR, logger="aegis.session"):
        writer.put("bad", 1, TextDelta(text="lost"))
        writer.put("good", 1, TextDelta(text="kept"))
        writer.close()

    assert [r["text"] for r in read_records(paths["good"])] == ["kept"]
    assert "cannot open the transcript of bad" in caplog.text


def test_close_without_start_and_twice_is_harmless(tmp_path: Path) -> None:
    writer = TranscriptWriter(lambda handle: tmp_path / handle)
    writer.close()
    writer.start()
    writer.close()
    writer.close()


def test_flush_returns_once_what_was_put_is_written(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    # A writer that would otherwise wait a minute for a quiet moment.
    writer = TranscriptWriter(lambda handle: path, quiet=60, max_lag=60)
    writer.start()
    try:
        writer.put("a", 1, TextDelta(text="one"))
        writer.flush()
        assert [r["text"] for r in read_records(path)] == ["one"]
        writer.put("a", 2, TextDelta(text="two"))
        writer.flush()
        assert [r["text"] for r in read_records(path)] == ["one", "two"]
    finally:
        writer.put("a", 3, TextDelta(text="three"))
        writer.close()
    assert [r["seq"] for r in read_records(path)] == [1, 2, 3]


def test_a_steady_stream_is_written_within_max_lag(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    writer = TranscriptWriter(lambda handle: path, quiet=0.05, max_lag=0.2)
    writer.start()
    try:
        seq = 0
        # Events every 10 ms never leave the writer a quiet moment of 50 ms.
        while not path.exists() or not list(read_records(path)):
            seq += 1
            assert seq < 300, "nothing written after 3 s of a steady stream"
            writer.put("a", seq, TextDelta(text=str(seq)))
            time.sleep(0.01)
    finally:
        writer.close()
    assert seq > 1


def test_one_record_that_cannot_be_written_costs_nothing_else(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Events reach the writer cleaned (aegis.text); this one did not, and another
    # one cannot be serialised at all: the thread writing every session goes on.
    writer = TranscriptWriter(lambda handle: tmp_path / f"{handle}.jsonl", quiet=0.001)
    writer.start()
    with caplog.at_level(logging.ERROR, logger="aegis.session"):
        writer.put("a", 1, TextDelta(text="cut emoji: \ud83d"))
        writer.put("a", 2, ToolCall(id="t", name="x", input={"bad": object()}))
        writer.flush()
        writer.put("b", 1, TextDelta(text="unrelated"))
        writer.close()
    a = list(read_records(tmp_path / "a.jsonl"))
    assert [r["text"] for r in a] == ["cut emoji: \ufffd"]
    assert [r["text"] for r in read_records(tmp_path / "b.jsonl")] == ["unrelated"]
    assert "record 2 of a's transcript dropped" in caplog.text


def test_the_reader_skips_a_line_nested_too_deeply_to_read(tmp_path: Path) -> None:
    path = tmp_path / "transcript.jsonl"
    path.write_text('{"seq":1}\n' + "[" * 100_000 + "]" * 100_000 + '\n{"seq":2}\n')
    assert [r["seq"] for r in read_records(path)] == [1, 2]
