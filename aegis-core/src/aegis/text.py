"""Text that comes from outside aegis, made safe before anything stores or sends it.

Two kinds of text reach aegis from places it does not control:

* what an agent CLI prints: JSON lines, whose strings may hold a **lone UTF-16
  surrogate** (a Node-based CLI cutting a string inside an emoji writes
  ``"\\ud83d"``; :func:`json.loads` accepts it), and whose values may be nested
  deeper than anything can walk;
* what a user types or passes: a command-line argument that is not valid UTF-8
  reaches Python as surrogate escapes (``$'\\xff'`` becomes ``"\\udcff"``).

A string holding a surrogate cannot be encoded as UTF-8, so every writer that
meets one (a transcript, a database, a pipe to another CLI) would fail on it.
:func:`clean_text` turns each such code point into U+FFFD, the replacement
character, where the text enters; :func:`parse_json` does that for a whole JSON
line of agent output and refuses one nested too deeply to be handled safely.
"""

from __future__ import annotations

import json
import re
from typing import Any

REPLACEMENT = "\ufffd"
"""What an unencodable code point becomes."""

MAX_JSON_DEPTH = 100
"""How deeply agent JSON may nest (objects and arrays). Real protocol messages stay
within a dozen levels; deeper ones are refused, since rendering, storing or
walking them recursively would fail further on."""

_SURROGATE = re.compile("[\ud800-\udfff]")


class UnreadableJson(ValueError):
    """A line of agent output that is not JSON aegis can take (the message says why)."""


def clean_text(text: str) -> str:
    """``text`` with every surrogate code point replaced by U+FFFD (cheap when there is none)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub(REPLACEMENT, text)
    return text


def clean_value(value: Any, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """A JSON value (as :func:`json.loads` makes it) with every string cleaned.

    Walks without recursion; raises :class:`UnreadableJson` when objects and arrays
    nest deeper than ``max_depth``.
    """
    if isinstance(value, str):
        return clean_text(value)
    if not isinstance(value, dict | list):
        return value
    root: list[Any] = [value]
    # Each entry: a container to clean in place, and its depth.
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(value, 1)]
    while stack:
        container, depth = stack.pop()
        if depth > max_depth:
            raise UnreadableJson(f"nested deeper than {max_depth} levels")
        if isinstance(container, list):
            for index, item in enumerate(container):
                if isinstance(item, str):
                    container[index] = clean_text(item)
                elif isinstance(item, dict | list):
                    stack.append((item, depth + 1))
            continue
        for key in list(container):
            item = container[key]
            if isinstance(item, str):
                item = clean_text(item)
            elif isinstance(item, dict | list):
                stack.append((item, depth + 1))
            clean_key = clean_text(key)
            if clean_key != key:
                del container[key]
            container[clean_key] = item
    return root[0]


def parse_json(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """One JSON line of agent output, with its strings cleaned (see :func:`clean_text`).

    Raises :class:`UnreadableJson` (a ``ValueError``, as :func:`json.loads` raises)
    when it is not JSON or nests deeper than ``max_depth``: the caller skips the
    line and notes why, instead of failing on it further on.
    """
    try:
        value = json.loads(text)
    except RecursionError:
        raise UnreadableJson(f"nested deeper than {max_depth} levels") from None
    except ValueError:
        raise UnreadableJson("not JSON") from None
    if _may_need_cleaning(text, max_depth):
        return clean_value(value, max_depth)
    return value


def _may_need_cleaning(text: str | bytes, max_depth: int) -> bool:
    """Whether the JSON ``text`` can hold a surrogate or nest deeper than ``max_depth``.

    Every line of agent output passes here, so this asks the text, in C, instead of
    walking the parsed value in Python (which cost more than translating the line).
    Decoded text holds no surrogate itself: json.loads makes one only from a
    ``\\uD800``-``\\uDFFF`` escape. And a value cannot nest deeper than the number
    of brackets that open in its text.
    """
    if isinstance(text, bytes):
        # json.loads decodes bytes with "surrogatepass": an encoded surrogate (lead
        # byte 0xED, shared with some Hangul) comes through unescaped.
        escape = b"\\ud" in text or b"\\uD" in text or b"\xed" in text
        return escape or text.count(b"{") + text.count(b"[") > max_depth
    escape = "\\ud" in text or "\\uD" in text
    return escape or text.count("{") + text.count("[") > max_depth
