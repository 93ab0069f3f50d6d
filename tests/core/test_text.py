"""Text from outside: lone surrogates replaced, too-deep JSON refused, the rest untouched."""

from __future__ import annotations

import json

import pytest

from aegis.text import REPLACEMENT, UnreadableJson, clean_text, parse_json


def test_a_lone_surrogate_escape_becomes_the_replacement_character() -> None:
    assert parse_json('{"text": "cut \\ud83d", "k\\uDC00": ["\\udfff"]}') == {
        "text": f"cut {REPLACEMENT}",
        f"k{REPLACEMENT}": [REPLACEMENT],
    }


def test_a_surrogate_pair_is_one_character_and_stays() -> None:
    assert parse_json('{"smile": "\\ud83d\\ude00"}') == {"smile": "\U0001f600"}


def test_an_encoded_surrogate_in_bytes_is_replaced() -> None:
    assert parse_json(b'{"a": "\xed\xa0\x80"}') == {"a": REPLACEMENT}


def test_json_nested_deeper_than_the_limit_is_refused_at_any_depth() -> None:
    for depth in (101, 3000):
        with pytest.raises(UnreadableJson, match="nested deeper than 100"):
            parse_json("[" * depth + "]" * depth)
    assert parse_json("[" * 100 + "]" * 100) is not None


def test_many_brackets_that_do_not_nest_deeply_are_taken() -> None:
    line = json.dumps({"items": [{"n": n, "s": "\ud83d"} for n in range(300)]})
    parsed = parse_json(line)
    assert len(parsed["items"]) == 300
    assert {item["s"] for item in parsed["items"]} == {REPLACEMENT}


def test_ordinary_text_comes_back_as_it_was() -> None:
    line = '{"jsonrpc": "2.0", "method": "session/update", "params": {"text": "héllo"}}'
    assert parse_json(line) == json.loads(line)
    assert clean_text("plain") == "plain"
    assert clean_text("a \udcff b") == f"a {REPLACEMENT} b"
