"""Suggestions for misspelled names in ``.aegis.py``: the nearest name aegis knows.

Two kinds of slip: a keyword a class does not take (``Queue(..., max_paralel=2)``,
which Python reports as a ``TypeError``), and a top-level name aegis reads but
that the file spells differently (``queus = [...]``, which would otherwise be
silently ignored).
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Iterable, Mapping
from typing import Any

from aegis.usage.budget import Limits

_UNEXPECTED_KEYWORD = re.compile(
    r"^(?P<callable>[\w.]+)\(\) got an unexpected keyword argument '(?P<keyword>\w+)'"
)

OPTIONAL_NAMES: dict[str, tuple[type, ...]] = {
    "queues": (list, tuple),
    "notifications": (list, tuple),
    "limits": (Limits,),
}
"""Top-level names aegis reads when they are there, with the kinds of value they hold."""


def nearest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``name``, if one is close enough to be a slip."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.75)
    return close[0] if close else None


def keyword_hint(error: BaseException, namespace: Mapping[str, Any]) -> str | None:
    """For ``X() got an unexpected keyword argument 'k'``: the keyword ``X`` takes that
    is nearest to ``k``, and the ones it takes (``X`` looked up in ``namespace``)."""
    if not isinstance(error, TypeError):
        return None
    found = _UNEXPECTED_KEYWORD.match(str(error))
    if found is None:
        return None
    name = found["callable"].removesuffix(".__init__")
    target = namespace.get(name.partition(".")[0])
    for part in name.split(".")[1:]:
        target = getattr(target, part, None)
    if target is None:
        return None
    try:
        parameters = [
            p.name
            for p in inspect.signature(target).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
    except (TypeError, ValueError):
        return None
    takes = f"{name} takes: {', '.join(parameters)}"
    guess = nearest(found["keyword"], parameters)
    return f"did you mean {guess!r}? {takes}" if guess else takes


def misspelled_name(namespace: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(spelled, meant)`` when an optional top-level name is missing and a name of the
    same kind of value is spelled nearly like it (``queus`` for ``queues``)."""
    for meant, kinds in OPTIONAL_NAMES.items():
        if meant in namespace:
            continue
        candidates = [
            name
            for name, value in namespace.items()
            if not name.startswith("_") and isinstance(value, kinds)
        ]
        spelled = nearest(meant, candidates)
        if spelled is not None:
            return spelled, meant
    return None
