"""Finding a queue backend by name, among those the plugins registered."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from aegis.errors import ConfigError
from aegis.queue.backend import QueueBackend

if TYPE_CHECKING:
    from aegis.plugins import PluginHost

BACKEND_ENV = "AEGIS_QUEUE_BACKEND"
DEFAULT_BACKEND = "sqlite"


@runtime_checkable
class QueueBackendChoice(Protocol):
    """A queue backend chosen in ``.aegis.py`` with its settings: ``queue_backend = ...``.

    A plugin whose backend needs settings (a database URL, say) gives the user such
    an object to assign; a plain name (``queue_backend = "sqlite"``) picks a
    registered backend with no settings.
    """

    @property
    def name(self) -> str:
        """The backend's registered name (``aegis queue`` commands show it)."""
        ...

    def open(self, state_dir: Path) -> QueueBackend:
        """The backend, for the project whose state lives in ``state_dir``."""
        ...


def queue_backend_factories() -> dict[str, Callable[[Path], Any]]:
    """Every registered backend factory by name; the first registration of a name wins."""
    from aegis.plugins import get_host

    return get_host().derived(_collect_factories)


def _collect_factories(plugins: PluginHost) -> dict[str, Callable[[Path], Any]]:
    from aegis import hookspecs

    factories: dict[str, Callable[[Path], Any]] = {}

    def sink(plugin: str, name: str, factory: Callable[[Path], Any]) -> None:
        if not isinstance(name, str) or not callable(factory):
            raise TypeError("register_queue_backends: call register(name, factory)")
        factories.setdefault(name, factory)

    plugins.collect(hookspecs.register_queue_backends, sink)
    return factories


def get_queue_backend(
    name: str | QueueBackendChoice | None,
    state_dir: Path,
    *,
    chosen: str | QueueBackendChoice | None = None,
) -> QueueBackend:
    """Open the queue backend ``name`` for the project whose state is in ``state_dir``.

    ``name=None`` picks ``$AEGIS_QUEUE_BACKEND``, else ``chosen`` (what the
    project's ``.aegis.py`` chose), else ``"sqlite"``. A
    :class:`QueueBackendChoice` opens itself. An unknown name is a
    :class:`~aegis.errors.ConfigError` listing the registered backends.
    """
    name = name or os.environ.get(BACKEND_ENV) or chosen or DEFAULT_BACKEND
    if not isinstance(name, str):
        return name.open(state_dir)
    factories = queue_backend_factories()
    factory = factories.get(name)
    if factory is None:
        raise ConfigError(
            f"no queue backend {name!r}",
            hint=f"registered queue backends: {', '.join(sorted(factories)) or 'none'}"
            f" (pick one with ${BACKEND_ENV}, or install the plugin that provides {name!r})",
        )
    backend: QueueBackend = factory(state_dir)
    return backend
