"""Where workflows are registered: ``@workflow`` in ``.aegis.py``, and packaged ones."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeAlias

WorkflowFn: TypeAlias = Callable[..., Awaitable[Any]]
"""An ``async def`` taking a ``WorkflowEngine`` first, then keyword arguments."""

if TYPE_CHECKING:
    from aegis.plugins import PluginHost

_lock = threading.Lock()
_project: dict[str, WorkflowFn] = {}
_collectors: list[dict[str, WorkflowFn]] = []


def _check(fn: object, name: str) -> WorkflowFn:
    if not callable(fn) or not inspect.iscoroutinefunction(fn):
        raise TypeError(f"workflow {name!r} must be an async function (async def), not {fn!r}")
    return fn


def workflow(fn: WorkflowFn) -> WorkflowFn:
    """Register an async workflow under ``fn.__name__``.

    Registering another function under the same name replaces the earlier one
    (re-loading ``.aegis.py`` re-registers its workflows).
    """
    name = fn.__name__
    _check(fn, name)
    with _lock:
        _project[name] = fn
        for found in _collectors:
            found[name] = fn
    return fn


@contextmanager
def collecting() -> Iterator[dict[str, WorkflowFn]]:
    """Collect the workflows registered while the block runs (one ``.aegis.py`` load)."""
    found: dict[str, WorkflowFn] = {}
    with _lock:
        _collectors.append(found)
    try:
        yield found
    finally:
        with _lock:
            _collectors.remove(found)


def packaged_workflows(plugins: PluginHost) -> dict[str, WorkflowFn]:
    """The workflows ``plugins`` register, by name (the first registration of a name wins).

    Built once per plugin host: ``host.derived(packaged_workflows)``.
    """
    from aegis import hookspecs

    packaged: dict[str, WorkflowFn] = {}

    def sink(plugin: str, fn: WorkflowFn, name: str | None = None) -> None:
        key = name or fn.__name__
        packaged.setdefault(key, _check(fn, key))

    plugins.collect(hookspecs.register_workflows, sink)
    return packaged


def _packaged_workflows() -> dict[str, WorkflowFn]:
    from aegis.plugins import get_host

    return get_host().derived(packaged_workflows)


def list_workflows() -> list[str]:
    """The names of every registered workflow, project and packaged, sorted."""
    packaged = _packaged_workflows()
    with _lock:
        return sorted({*packaged, *_project})


def get_workflow(name: str) -> WorkflowFn | None:
    """The workflow registered under ``name`` (the project's first), or ``None``."""
    with _lock:
        found = _project.get(name)
    return found if found is not None else _packaged_workflows().get(name)


def require_workflow(name: str) -> WorkflowFn:
    """The workflow registered under ``name``; ``WorkflowError`` naming the known ones
    if there is none."""
    from aegis.workflow.errors import WorkflowError

    fn = get_workflow(name)
    if fn is None:
        known = ", ".join(list_workflows()) or "none"
        raise WorkflowError(f"no workflow {name!r} (workflows: {known})")
    return fn
