"""Loading plugins: aegis's built-ins and everything in the ``aegis`` entry-point group.

Plugins are loaded once per process, on first need. A plugin that fails to import
is recorded with its error instead of taking the process down: ``aegis plugins``
shows it, and using one of its providers raises a ``ConfigError`` naming it.

Set ``AEGIS_PLUGINS`` to a comma-separated list of entry-point names to load only
those (an empty value loads none); the built-ins are always loaded. This is meant
for debugging a broken environment.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from aegis import hookspecs

ENTRY_POINT_GROUP = "aegis"
PLUGINS_ENV = "AEGIS_PLUGINS"

BUILTIN_PLUGINS: tuple[str, ...] = (
    "aegis.builtins.scripted",
    "aegis.builtins.workflows",
    "aegis.builtins.sqlite_queue",
    "aegis.builtins.mcp_tools",
)
"""Modules of aegis-core registered as plugins, through the same hooks as any other."""


@dataclass
class PluginInfo:
    """What ``aegis plugins`` shows about one plugin."""

    name: str
    distribution: str | None
    version: str | None
    module: str
    hooks: list[str] = field(default_factory=list)
    error: str | None = None
    builtin: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "hooks": self.hooks,
            "error": self.error,
            "builtin": self.builtin,
        }


class Plugins:
    """The plugin manager of one process, with what was loaded and what failed."""

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.manager.add_hookspecs(hookspecs)
        self._infos: dict[str, PluginInfo] = {}

    @property
    def hook(self) -> Any:
        """The pluggy hook relay: ``plugins.hook.session_started(session=...)``."""
        return self.manager.hook

    def load(self, allowed: set[str] | None) -> None:
        """Register the built-ins, then the entry points (all, or those in ``allowed``)."""
        from aegis import __version__

        for module_name in BUILTIN_PLUGINS:
            module = importlib.import_module(module_name)
            self._register(module, module_name, "aegis-core", __version__, builtin=True)
        seen: set[str] = set()
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in seen or (allowed is not None and ep.name not in allowed):
                continue
            seen.add(ep.name)
            dist = ep.dist.name if ep.dist is not None else None
            version = ep.dist.version if ep.dist is not None else None
            try:
                plugin = ep.load()
                # pluggy refuses an implementation whose arguments the spec lacks.
                self._register(plugin, ep.name, dist, version)
            except Exception as exc:  # a broken plugin must not take aegis down
                self._infos[ep.name] = PluginInfo(
                    name=ep.name,
                    distribution=dist,
                    version=version,
                    module=ep.value,
                    error=f"{type(exc).__name__}: {exc}",
                )
                continue
        self._reject_unknown_hooks()

    def _reject_unknown_hooks(self) -> None:
        """Unregister each plugin with an implementation of no known hook (a misspelling).

        It is reported, like a plugin that fails to import, instead of being silently
        ignored or taking every command down (``aegis plugins`` must still work).
        """
        while True:
            try:
                self.manager.check_pending()
            except pluggy.PluginValidationError as exc:
                name = self.manager.get_name(exc.plugin)
                self.manager.unregister(exc.plugin)
                info = self._infos.get(name or "")
                if info is None:  # pragma: no cover - every plugin is registered with info
                    raise
                info.hooks = []
                info.error = f"PluginValidationError: {exc} (a misspelled hook name?)"
                continue
            return

    def _register(
        self,
        plugin: ModuleType | object,
        name: str,
        dist: str | None,
        version: str | None,
        *,
        builtin: bool = False,
    ) -> None:
        if self.manager.is_registered(plugin):
            return
        self.manager.register(plugin, name=name)
        module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
        hooks = sorted(caller.name for caller in self.manager.get_hookcallers(plugin) or [])
        self._infos[name] = PluginInfo(name, dist, version, module, hooks, builtin=builtin)

    def infos(self) -> list[PluginInfo]:
        """Every plugin, loaded or failed, built-ins first."""
        return sorted(self._infos.values(), key=lambda info: (not info.builtin, info.name))

    def failures(self) -> list[PluginInfo]:
        """The plugins that failed: to import, to validate, or in a registration hook."""
        return [info for info in self._infos.values() if info.error is not None]

    def collect(self, hook_name: str, sink: Callable[..., None]) -> None:
        """Run the registration hook ``hook_name``, one plugin at a time.

        Each plugin gets its own ``register`` callable, so that whatever it
        registers is attributed to it: ``sink(plugin_name, *args, **kwargs)``
        receives each registration, in plugin registration order (built-ins first).

        A plugin whose hook raises is marked as failed, with the error, and what it
        registered before raising is dropped; one whose registration ``sink``
        rejects is marked as failed too. One broken plugin does not take the
        others down: ``aegis plugins`` shows it with its error.
        """
        caller = getattr(self.manager.hook, hook_name)
        for impl in caller.get_hookimpls():
            calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

            def register(*args: Any, _calls: list[Any] = calls, **kw: Any) -> None:
                _calls.append((args, kw))

            try:
                impl.function(**dict.fromkeys(impl.argnames, register))
                for args, kw in calls:
                    sink(impl.plugin_name, *args, **kw)
            except Exception as exc:
                self._hook_failed(impl.plugin_name, hook_name, exc)

    def call_each(self, hook_name: str, **kwargs: Any) -> None:
        """Call the hook ``hook_name`` on every plugin, recording the ones that raise."""
        caller = getattr(self.manager.hook, hook_name)
        for impl in caller.get_hookimpls():
            try:
                impl.function(**{name: kwargs[name] for name in impl.argnames})
            except Exception as exc:
                self._hook_failed(impl.plugin_name, hook_name, exc)

    def _hook_failed(self, plugin_name: str, hook_name: str, exc: Exception) -> None:
        info = self._infos.get(plugin_name)
        if info is None:  # pragma: no cover - every plugin is registered with info
            raise exc
        if info.error is None:
            info.error = f"{hook_name} raised {type(exc).__name__}: {exc}"

    def info(self, plugin_name: str) -> PluginInfo | None:
        return self._infos.get(plugin_name)


_lock = threading.Lock()
_plugins: Plugins | None = None


def allowed_plugins() -> set[str] | None:
    """The entry-point names ``AEGIS_PLUGINS`` allows, or ``None`` for all."""
    value = os.environ.get(PLUGINS_ENV)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def get_plugins() -> Plugins:
    """The process's plugins, loading them on first call."""
    global _plugins
    with _lock:
        if _plugins is None:
            plugins = Plugins()
            plugins.load(allowed_plugins())
            _plugins = plugins
        return _plugins


def reset_plugins() -> None:
    """Forget the loaded plugins (tests use this after changing ``AEGIS_PLUGINS``)."""
    global _plugins
    with _lock:
        _plugins = None
    from aegis import registry
    from aegis.workflow import registry as workflows

    registry.reset_registry()
    workflows.reset_packaged()
