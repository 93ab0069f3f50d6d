"""Shared canvases: named Markdown documents that agents and people write section by section.

A canvas binds a name to a Markdown file (``.aegis/canvases/<name>.md`` unless given
another path in the project). Its sections are its ``## `` headings; the text before
the first is a section of its own, named ``""``. Writes are atomic (a temporary
file renamed over the canvas) and serialised per canvas; every read and write
starts from the file on disk, so a person's edit in an editor is kept. The ledger
(``.aegis/canvases/<name>.ledger.jsonl``) records who changed which section and by
how many lines; subscribers other than the writer get an inbox message per change.

The runtime owns a :class:`CanvasRegistry` (``runtime.canvases``). See
``docs/terminals.md``.
"""

from aegis.canvas.registry import (
    CanvasChange,
    CanvasError,
    CanvasInfo,
    CanvasRegistry,
    UnknownCanvas,
)
from aegis.canvas.sections import PREAMBLE, Section, parse, render

__all__ = [
    "PREAMBLE",
    "CanvasChange",
    "CanvasError",
    "CanvasInfo",
    "CanvasRegistry",
    "Section",
    "UnknownCanvas",
    "parse",
    "render",
]
