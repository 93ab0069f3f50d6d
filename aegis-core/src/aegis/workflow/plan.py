"""Plan files: Markdown with numbered slices, as the ``execute_plan`` workflow reads them.

A slice starts at a line that begins (no indentation) with its number, as a Markdown
heading or as a list item::

    # Add a --verbose flag            <- the preamble: context given with every slice
    The CLI lives in app/cli.py.

    ## 1. Parse the flag              <- slice 1 ("## Slice 1: ..." and "1. ..." work too)
    Add --verbose to the parser.

    ## 2. Log more when it is set     <- slice 2
    ...

A slice runs until the next one; the text before the first slice is the preamble.
Numbers run 1, 2, 3… in order (a list numbered inside a slice must be indented, or
it would start slices). Lines inside fenced code blocks never start a slice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aegis.workflow.errors import WorkflowError

SLICE_START = re.compile(r"^(?:#{1,6}[ \t]+)?(?:slice[ \t]+)?(\d+)[.):][ \t]+(\S.*)$", re.I)
"""The first line of a slice: ``## 1. Title``, ``## Slice 1: Title``, ``1. Title``, ``1) Title``."""
FENCE = re.compile(r"^[ \t]{0,3}(```|~~~)")


class PlanError(WorkflowError):
    """A plan file that cannot be followed (no slices, numbers out of order)."""


@dataclass(frozen=True)
class Slice:
    """One numbered slice of a plan."""

    number: int
    title: str
    body: str

    @property
    def key(self) -> str:
        """The name of its checkpoint: ``slice-<number>``."""
        return f"slice-{self.number}"


@dataclass(frozen=True)
class Plan:
    """A parsed plan file: its preamble and its slices, in order."""

    preamble: str
    slices: tuple[Slice, ...]


def parse_plan(text: str) -> Plan:
    """Split a plan file's ``text`` into its preamble and numbered slices.

    Raises :class:`PlanError` when it has no slice or its numbers do not run 1, 2, 3….
    """
    preamble: list[str] = []
    found: list[tuple[int, str, list[str]]] = []
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        start = None if fenced else SLICE_START.match(line)
        if start is not None:
            found.append((int(start.group(1)), start.group(2).strip(), []))
        elif found:
            found[-1][2].append(line)
        else:
            preamble.append(line)
    if not found:
        raise PlanError(
            "the plan has no numbered slice: start each with its number at the beginning "
            "of a line, e.g. `## 1. Parse the flag` or `1. Parse the flag`"
        )
    numbers = [number for number, _, _ in found]
    if numbers != list(range(1, len(found) + 1)):
        raise PlanError(
            f"the plan's slices are numbered {', '.join(map(str, numbers))}: they must run "
            "1, 2, 3… in order (indent a numbered list inside a slice)"
        )
    return Plan(
        preamble="\n".join(preamble).strip(),
        slices=tuple(Slice(n, title, "\n".join(body).strip()) for n, title, body in found),
    )
