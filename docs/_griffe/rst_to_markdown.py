"""A griffe extension: render aegis's reST-flavoured docstrings as Markdown.

aegis's docstrings are plain text with a few reStructuredText habits, written to
read well in ``help()`` and in an editor:

* roles: ``:class:`aegis.config.Agent```, ``:func:`~aegis.config.load_config```;
* literal blocks introduced by a paragraph ending in ``::``;
* definition lists: a term on its own line, its definition indented below it;
* simple tables, between ``===== =====`` border lines.

mkdocstrings renders docstrings as Markdown, where these show up as stray colons
and run-together paragraphs. This extension rewrites them, once the object tree is
loaded, into inline code, fenced Python blocks, Markdown definition lists (the
``def_list`` extension is enabled in ``mkdocs.yml``) and fenced text blocks (tables,
kept as they are laid out). It changes only what the
documentation site shows, never the code.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|data|mod|exc|obj|const):`([^`]+)`")
_TITLED = re.compile(r"(?P<title>.+?)\s*<(?P<target>[^>]+)>")
_BORDER = re.compile(r"=+(?: +=+)+")
"""A border line of a reST simple table (a table has three: top, under the header, bottom)."""


def _role(match: re.Match[str]) -> str:
    text = match.group(1)
    titled = _TITLED.fullmatch(text)
    if titled:
        return f"`{titled.group('title')}`"
    if text.startswith("~"):
        text = text[1:].rsplit(".", 1)[-1]
    return f"`{text}`"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _literal_block(lines: list[str], start: int) -> tuple[list[str], int]:
    """The indented block that begins at or after ``start`` (skipping blank lines)."""
    i = start
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or _indent(lines[i]) == 0:
        return [], start
    block: list[str] = []
    while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > 0):
        block.append(lines[i])
        i += 1
    while block and not block[-1].strip():
        block.pop()
        i -= 1
    margin = min(_indent(line) for line in block if line.strip())
    return [line[margin:] for line in block], i


def _simple_table(lines: list[str], start: int) -> tuple[list[str], int]:
    """The reST simple table whose top border is ``lines[start]``, and the index after it."""
    borders = 0
    for end in range(start, len(lines)):
        if _BORDER.fullmatch(lines[end].rstrip()):
            borders += 1
            if borders == 3:
                return [line.rstrip() for line in lines[start : end + 1]], end + 1
    return [], start


def _is_term(lines: list[str], i: int, in_list: bool) -> bool:
    """Whether ``lines[i]`` is the term of a reST definition list item.

    A term stands alone after a blank line (or right after the previous item of
    the same list), with its definition indented on the next line.
    """
    line = lines[i]
    if not line.strip() or _indent(line) != 0 or i + 1 >= len(lines):
        return False
    if line.lstrip().startswith(("* ", "- ", "+ ", "#", "|", ">")) or line.endswith(":"):
        return False
    follower = lines[i + 1]
    starts = in_list or i == 0 or not lines[i - 1].strip()
    return starts and bool(follower.strip()) and _indent(follower) >= 4


def convert(text: str) -> str:
    """The Markdown for one docstring."""
    text = _ROLE.sub(_role, text)
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    in_list = False
    while i < len(lines):
        line = lines[i]
        stripped = line.rstrip()
        if _BORDER.fullmatch(stripped):
            table, end = _simple_table(lines, i)
            if table:
                out.extend(["```text", *table, "```"])
                in_list = False
                i = end
                continue
        if stripped.endswith("::") and not stripped.endswith(":::"):
            block, end = _literal_block(lines, i + 1)
            if block:
                head = stripped[:-2].rstrip()
                if head:
                    out.append(head + ":")
                out.extend(["", "```python", *block, "```"])
                i = end
                continue
        if _is_term(lines, i, in_list):
            if in_list:
                out.append("")
            in_list = True
            out.append(line)
            i += 1
            first = True
            while i < len(lines) and lines[i].strip() and _indent(lines[i]) >= 4:
                body = lines[i].strip()
                out.append(f":   {body}" if first else f"    {body}")
                first = False
                i += 1
            continue
        in_list = False
        out.append(line)
        i += 1
    return "\n".join(out)


class RstToMarkdown(griffe.Extension):
    """Rewrite every docstring of the loaded packages (see the module docstring)."""

    def on_object(self, *, obj: griffe.Object, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
