"""The plugin host: aegis's built-ins and everything in the ``aegis`` entry-point group.

One :class:`PluginHost` per process holds the loaded plugins and every registry
derived from them (providers, packaged workflows, queue backends, MCP tools). It
is made, and its plugins loaded, on first need; :func:`reset_plugins` replaces it,
so that everything derived from the old plugins is forgotten with it.

A plugin that fails to import is recorded with its error instead of taking the
process down: ``aegis plugins`` shows it, and using one of its providers raises a
``ConfigError`` naming it.

Set ``AEGIS_PLUGINS`` to a comma-separated list of entry-point names to load only
those (an empty value loads none); the built-ins are always loaded. This is meant
for debugging a broken environment.

Hooks are called the ways :mod:`aegis.hookspecs` describes: registration hooks
through :meth:`PluginHost.collect`, observer hooks through
:meth:`PluginHost.notify`, and ``before_send`` through
:meth:`PluginHost.before_send`.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any, ParamSpec, TypeVar, cast

import pluggy

from aegis import hookspecs

ENTRY_POINT_GROUP = "aegis"
PLUGINS_ENV = "AEGIS_PLUGINS"

BUILTIN_PLUGINS: tuple[str, ...] = (
    "aegis.builtins.scripted",
    "aegis.builtins.workflows",
    "aegis.builtins.sqlite_queue",
    "aegis.builtins.mcp_tools",
    "aegis.builtins.terminal_tools",
    "aegis.builtins.orchestration_tools",
    "aegis.builtins.human_tools",
    "aegis.builtins.workflow_tools",
)
"""Modules of aegis-core registered as plugins, through the same hooks as any other."""

log = logging.getLogger("aegis.plugins")

P = ParamSpec("P")
T = TypeVar("T")


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


class PluginHost:
    """The plugins of one process, what failed, and every registry derived from them.

    A registry built from the plugins (the providers, the packaged workflows, ...)
    is asked for with :meth:`derived` and kept by the host; registering or
    unregistering a plugin forgets them, and replacing the host (see
    :func:`reset_plugins`) drops them all. Nothing else holds plugin state.
    """

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.manager.add_hookspecs(hookspecs)
        self._infos: dict[str, PluginInfo] = {}
        # Re-entrant: a registry being built may ask for another one.
        self._lock = threading.RLock()
        self._derived: dict[Callable[[PluginHost], Any], Any] = {}

    # --- loading ----------------------------------------------------------------------

    def load(self, allowed: set[str] | None) -> None:
        """Register the built-ins, then the entry points (all, or those in ``allowed``)."""
        from aegis import __version__

        for module_name in BUILTIN_PLUGINS:
            module = importlib.import_module(module_name)
            self.register(module, module_name, "aegis-core", __version__, builtin=True)
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
                self.register(plugin, ep.name, dist, version)
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

    def register(
        self,
        plugin: ModuleType | object,
        name: str,
        distribution: str | None = None,
        version: str | None = None,
        *,
        builtin: bool = False,
    ) -> None:
        """Add ``plugin`` under ``name`` (what loading an entry point does).

        The registries derived from the plugins are rebuilt on next use, with it.
        A hook wrapper is refused (``TypeError``): aegis calls each plugin's
        implementation on its own, so a wrapper would silently never run.
        """
        with self._lock:
            if self.manager.is_registered(plugin):
                return
            self.manager.register(plugin, name=name)
            wrappers = [
                impl.function.__name__
                for caller in self.manager.get_hookcallers(plugin) or []
                for impl in caller.get_hookimpls()
                if impl.plugin is plugin and (impl.wrapper or impl.hookwrapper)
            ]
            if wrappers:
                self.manager.unregister(plugin)
                raise TypeError(f"hook wrappers are not supported: {', '.join(wrappers)}")
            module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
            hooks = sorted(caller.name for caller in self.manager.get_hookcallers(plugin) or [])
            self._infos[name] = PluginInfo(
                name, distribution, version, module, hooks, builtin=builtin
            )
            self._derived.clear()

    def unregister(self, plugin: ModuleType | object) -> None:
        """Remove ``plugin``; the derived registries are rebuilt on next use, without it."""
        with self._lock:
            name = self.manager.get_name(plugin)
            self.manager.unregister(plugin)
            self._infos.pop(name or "", None)
            self._derived.clear()

    # --- what was loaded --------------------------------------------------------------

    def infos(self) -> list[PluginInfo]:
        """Every plugin, loaded or failed, built-ins first."""
        return sorted(self._infos.values(), key=lambda info: (not info.builtin, info.name))

    def failures(self) -> list[PluginInfo]:
        """The plugins that failed: to import, to validate, or in a registration hook."""
        return [info for info in self._infos.values() if info.error is not None]

    def info(self, plugin_name: str) -> PluginInfo | None:
        """What is known of the plugin called ``plugin_name``."""
        return self._infos.get(plugin_name)

    # --- derived registries -----------------------------------------------------------

    def derived(self, build: Callable[[PluginHost], T]) -> T:
        """The registry ``build(host)`` makes from these plugins, built once and kept.

        ``build`` is the key: ``host.derived(ProviderRegistry)`` is the provider
        registry of this host, whoever asks first builds it.
        """
        with self._lock:
            if build not in self._derived:
                self._derived[build] = build(self)
            return cast(T, self._derived[build])

    # --- calling hooks ----------------------------------------------------------------

    def collect(
        self,
        spec: Callable[..., None],
        sink: Callable[..., None] | None = None,
        **given: Any,
    ) -> None:
        """Run the registration hook ``spec`` (a function of :mod:`aegis.hookspecs`).

        Each plugin is called on its own, in registration order (built-ins first).
        Its ``register`` argument is a callable of that plugin's own, so that
        whatever it registers is attributed to it: ``sink(plugin_name, *args,
        **kwargs)`` receives each registration. A hook that is handed the object to
        extend instead (``register_commands(cli)``) gets it from ``given``.

        A plugin whose hook raises is marked as failed, with the error, and what it
        registered before raising is dropped; one whose registration ``sink``
        rejects is marked as failed too. One broken plugin does not take the
        others down: ``aegis plugins`` shows it with its error.
        """
        hook_name = spec.__name__
        for impl in self._impls(hook_name):
            calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

            def register(*args: Any, _calls: list[Any] = calls, **kw: Any) -> None:
                _calls.append((args, kw))

            arguments = {"register": register, **given}
            try:
                impl.function(**{name: arguments[name] for name in impl.argnames})
                for args, kw in calls:
                    if sink is None:
                        raise TypeError(f"{hook_name}: nothing is registered through `register`")
                    sink(impl.plugin_name, *args, **kw)
            except Exception as exc:
                self._hook_failed(impl.plugin_name, hook_name, exc)

    def notify(self, spec: Callable[P, None], /, *args: P.args, **kwargs: P.kwargs) -> None:
        """Call the observer hook ``spec`` (a function of :mod:`aegis.hookspecs`) on every plugin.

        The arguments are the hook's, checked against its specification by the type
        checker. An implementation that raises is logged with its plugin's name and
        the others are still called: an observer never breaks what it observes.
        """
        arguments = inspect.signature(spec).bind(*args, **kwargs).arguments if args else kwargs
        for _ in self._each(spec.__name__, arguments):
            pass

    def before_send(self, handle: str, message: str, sender: str) -> str:
        """Run the ``before_send`` hooks: the message as they rewrote it.

        Each plugin sees the message as the previous ones left it. A
        :class:`~aegis.errors.MessageRefused` goes to the caller; any other
        exception is logged with the plugin's name and the message is kept as it was.
        """
        from aegis.errors import MessageRefused

        arguments: dict[str, Any] = {"handle": handle, "message": message, "sender": sender}
        for result in self._each("before_send", arguments, passes=(MessageRefused,)):
            if isinstance(result, str):
                arguments["message"] = result
        return cast(str, arguments["message"])

    def _each(
        self,
        hook_name: str,
        arguments: dict[str, Any],
        passes: tuple[type[BaseException], ...] = (),
    ) -> Iterator[object]:
        """Call ``hook_name`` on each plugin: the one policy for hooks called at run time.

        Each implementation gets the arguments it names (``arguments`` is read at
        each call, so a caller may change it between two). What it returns is
        yielded; an exception of ``passes`` is the caller's; any other is logged
        with the plugin's name, and the next plugin is called.
        """
        for impl in self._impls(hook_name):
            try:
                result = impl.function(**{name: arguments[name] for name in impl.argnames})
            except passes:
                raise
            except Exception:
                log.exception("%s hook of plugin %r failed", hook_name, impl.plugin_name)
                continue
            yield result

    def _impls(self, hook_name: str) -> list[Any]:
        # In registration order, built-ins first (pluggy's own calls go the other way).
        impls: list[Any] = getattr(self.manager.hook, hook_name).get_hookimpls()
        return impls

    def _hook_failed(self, plugin_name: str, hook_name: str, exc: Exception) -> None:
        info = self._infos.get(plugin_name)
        if info is None:  # pragma: no cover - every plugin is registered with info
            raise exc
        if info.error is None:
            info.error = f"{hook_name} raised {type(exc).__name__}: {exc}"


_lock = threading.Lock()
_host: PluginHost | None = None


def allowed_plugins() -> set[str] | None:
    """The entry-point names ``AEGIS_PLUGINS`` allows, or ``None`` for all."""
    value = os.environ.get(PLUGINS_ENV)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def get_host() -> PluginHost:
    """The process's plugin host, made (and its plugins loaded) on first call."""
    global _host
    with _lock:
        if _host is None:
            host = PluginHost()
            host.load(allowed_plugins())
            _host = host
        return _host


def reset_plugins(host: PluginHost | None = None) -> None:
    """Replace the process's plugin host by ``host``, or by a fresh one made on next use.

    Every registry derived from the plugins goes with the old host. Tests use this
    after changing ``AEGIS_PLUGINS`` or the installed distributions.
    """
    global _host
    with _lock:
        _host = host
