"""OSC 133 shell-integration marks in a terminal's output, and its output as plain text.

An integrated shell (see :mod:`aegis.terminals.shell`) writes, around each command,
the marks modern terminals use (``ESC ] 133 ; X BEL``):

- ``A``: a prompt starts; ``B``: the prompt ends, what follows is typed input;
- ``C``: the command starts (its output follows); ``D;<status>``: it ended.

:class:`MarkParser` splits a stream of output chunks into text and marks, keeping a
mark cut in two by a chunk boundary until its end arrives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OSC_133 = b"\x1b]133;"
_MAX_PENDING = 256
"""A cut-off mark longer than this is not a mark: it is passed on as output."""

_MARK = re.compile(rb"\x1b\]133;([A-D])(?:;([^\x07\x1b]*))?(?:\x07|\x1b\\)")


@dataclass(frozen=True)
class Mark:
    """One shell-integration mark: its kind (``A``..``D``) and, for ``D``, the exit status."""

    kind: str
    exit: int | None = None


class MarkParser:
    """Splits output into ``bytes`` (text to show) and :class:`Mark` items, in order."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[bytes | Mark]:
        """The text and marks of ``data``, following whatever an earlier chunk left cut."""
        data = self._pending + data
        self._pending = b""
        items: list[bytes | Mark] = []
        position = 0
        for match in _MARK.finditer(data):
            if match.start() > position:
                items.append(data[position : match.start()])
            items.append(_mark(match))
            position = match.end()
        rest = data[position:]
        # A mark's beginning at the end of the chunk waits for its end.
        cut = rest.rfind(b"\x1b")
        if cut != -1 and len(rest) - cut < _MAX_PENDING and _maybe_mark(rest[cut:]):
            self._pending = rest[cut:]
            rest = rest[:cut]
        if rest:
            items.append(rest)
        return items


def _maybe_mark(tail: bytes) -> bool:
    if len(tail) <= len(OSC_133):
        return OSC_133.startswith(tail)
    return tail.startswith(OSC_133) and b"\x07" not in tail


def _mark(match: re.Match[bytes]) -> Mark:
    kind = match.group(1).decode()
    exit_status = None
    if kind == "D" and match.group(2):
        try:
            exit_status = int(match.group(2).split(b";")[0])
        except ValueError:
            exit_status = None
    return Mark(kind, exit_status)


_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, erasing
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: titles, marks
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC
    r"|\x1b[@-Z\\-_]|\x1b[()#][0-9A-Za-z]|\x1b[=>78]"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def plain_lines(text: str) -> list[str]:
    """``text`` (terminal output) as the lines a person would read: escapes removed,
    what follows a carriage return or a backspace written over what was there."""
    text = _ESCAPES.sub("", text)
    lines = []
    for raw in text.split("\n"):
        lines.append(_CONTROL.sub("", _overwritten(raw.rstrip("\r"))))
    return lines


def _overwritten(line: str) -> str:
    # As a terminal draws it: a carriage return goes back to the start of the line and
    # what follows overwrites it; a backspace goes back one character.
    if "\r" not in line and "\x08" not in line:
        return line
    cells: list[str] = []
    at = 0
    for char in line:
        if char == "\r":
            at = 0
        elif char == "\x08":
            at = max(0, at - 1)
        else:
            if at < len(cells):
                cells[at] = char
            else:
                cells.append(char)
            at += 1
    return "".join(cells)


def plain_text(data: bytes) -> str:
    """Terminal output bytes as plain text (see :func:`plain_lines`)."""
    return "\n".join(plain_lines(data.decode("utf-8", "replace")))
