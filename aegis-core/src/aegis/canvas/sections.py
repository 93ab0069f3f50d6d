"""A canvas's Markdown as sections: ``## `` headings, the text before the first its own section.

Parsing keeps every byte: ``render(parse(text)) == text``, so a section written by one
writer leaves the rest of the file (a person's edits included) as it was. A ``## ``
line inside a fenced code block is not a heading.
"""

from __future__ import annotations

from dataclasses import dataclass

PREAMBLE = ""
"""The name of the text before the first heading."""


@dataclass
class Section:
    """One section: its title (``""`` for the preamble), heading line and body."""

    title: str
    heading: str
    body: str


def title_of(name: str) -> str:
    """A section name as given (``"## Plan"`` or ``"Plan"``) as its title."""
    name = name.strip()
    if name.startswith("## "):
        name = name[3:]
    return name.strip()


def parse(text: str) -> list[Section]:
    """The sections of ``text``; the first is always the preamble (maybe empty)."""
    sections = [Section(PREAMBLE, "", "")]
    fence: str | None = None
    for line in text.splitlines(keepends=True):
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            marker = stripped[:3]
            fence = None if fence == marker else (fence or marker)
        if fence is None and line.startswith("## ") and not stripped.startswith(("```", "~~~")):
            sections.append(Section(title_of(line), line, ""))
        else:
            sections[-1].body += line
    return sections


def render(sections: list[Section]) -> str:
    """The text of ``sections`` (each heading starts on a line of its own)."""
    parts: list[str] = []
    for section in sections:
        if section.heading:
            if parts and parts[-1] and not parts[-1].endswith("\n"):
                parts.append("\n")
            parts.append(
                section.heading if section.heading.endswith("\n") else section.heading + "\n"
            )
        if section.body:
            parts.append(section.body)
    return "".join(parts)


def find(sections: list[Section], name: str) -> Section | None:
    """The first section titled ``name`` (``""``: the preamble)."""
    title = title_of(name)
    return next((s for s in sections if s.title == title), None)


def body_text(content: str, *, last: bool) -> str:
    """``content`` as a section body: one final newline, and a blank line before the next."""
    content = content.strip("\n")
    if not content:
        return "" if last else "\n"
    return content + ("\n" if last else "\n\n")
