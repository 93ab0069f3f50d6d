"""The provider registry: every provider the installed plugins registered, by name.

Built on first use from the ``register_providers`` hook, and kept by the plugin
host (:class:`aegis.plugins.PluginHost`) it was built from. It resolves the names
used in ``Agent(harness=...)`` (canonical names and aliases), finds configuration
classes for ``aegis.config.<ClassName>``, and turns "not found" into a
``ConfigError`` that says what is installed and what to install.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any

from aegis import hookspecs
from aegis.errors import ConfigError, MissingProviderError
from aegis.known_providers import KNOWN_PROVIDERS
from aegis.plugins import (
    BUILTIN_PLUGINS,
    ENTRY_POINT_GROUP,
    PLUGINS_ENV,
    PluginHost,
    PluginInfo,
    allowed_plugins,
    get_host,
)
from aegis.provider import Provider

if TYPE_CHECKING:
    from aegis.config.provider_config import ProviderConfig

# The providers maintained with aegis, for errors that say which package to install.
KNOWN_PACKAGES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # config class -> (provider name, distribution, other names)
    known.config_class: (known.name, known.distribution, known.aliases)
    for known in KNOWN_PROVIDERS
}

KNOWN_MODULES: dict[str, str] = {
    # top-level module -> the distribution that installs it
    **{known.module: known.distribution for known in KNOWN_PROVIDERS},
    "aegis_tui": "aegis-tui",
}


@dataclass(frozen=True)
class RegisteredProvider:
    """A provider with the plugin that registered it."""

    provider: Provider[Any]
    plugin: str
    distribution: str | None
    version: str | None


class ProviderRegistry:
    """Providers by canonical name, with their aliases and where they came from.

    Made by the plugin host: ``host.derived(ProviderRegistry)`` (or
    :func:`get_registry` for the process's host).
    """

    def __init__(self, plugins: PluginHost) -> None:
        self._by_name: dict[str, RegisteredProvider] = {}
        self._canonical: dict[str, RegisteredProvider] = {}
        self.conflicts: list[str] = []

        def sink(plugin: str, provider: Provider[Any]) -> None:
            if not isinstance(provider, Provider):
                raise TypeError(
                    f"plugin {plugin!r} registered {provider!r}, which is not an aegis Provider"
                )
            info = plugins.info(plugin)
            entry = RegisteredProvider(
                provider,
                plugin,
                info.distribution if info else None,
                info.version if info else None,
            )
            if provider.name in self._canonical:
                first = self._canonical[provider.name].plugin
                self.conflicts.append(
                    f"provider {provider.name!r} of plugin {plugin!r} ignored: "
                    f"plugin {first!r} registered it first"
                )
                return
            self._canonical[provider.name] = entry
            for name in provider.names():
                if name in self._by_name:
                    if self._by_name[name].provider is not provider:
                        self.conflicts.append(
                            f"name {name!r} of plugin {plugin!r} ignored: it already "
                            f"means {self._by_name[name].provider.name!r}"
                        )
                    continue
                self._by_name[name] = entry

        plugins.collect(hookspecs.register_providers, sink)
        # After the hook ran: a plugin whose register_providers raised has failed too.
        self.failures: list[PluginInfo] = plugins.failures()

    def all(self) -> list[RegisteredProvider]:
        """Every provider, in registration order (built-ins first)."""
        return list(self._canonical.values())

    def names(self) -> list[str]:
        """The canonical names of every provider."""
        return list(self._canonical)

    def get(self, name: str) -> RegisteredProvider:
        """The provider called ``name`` (or with that alias); ``ConfigError`` if none."""
        entry = self._by_name.get(name)
        if entry is not None:
            return entry
        raise self._not_found(name)

    def config_class_for(self, name: str) -> type[ProviderConfig]:
        """The configuration class of the provider called ``name`` (or with that alias).

        What ``Agent(harness=name, ...)`` is validated with; ``ConfigError`` if none.
        """
        return self.get(name).provider.config_class

    def canonical_name(self, name: str) -> str:
        """The canonical name of the provider called ``name``; ``ConfigError`` if none."""
        return self.get(name).provider.name

    def find_config_class(self, class_name: str) -> type | None:
        for entry in self._canonical.values():
            if entry.provider.config_class.__name__ == class_name:
                return entry.provider.config_class
        return None

    def config_class(self, class_name: str) -> type:
        """The configuration class called ``class_name`` (``aegis.config.ClaudeCode``)."""
        found = self.find_config_class(class_name)
        if found is not None:
            return found
        known = KNOWN_PACKAGES.get(class_name)
        if known is None:
            raise AttributeError(f"module 'aegis.config' has no attribute {class_name!r}")
        provider_name, package, _ = known
        failure = self._failure_for(provider_name, package)
        if failure is not None:
            raise MissingProviderError(
                f"aegis.config.{class_name} comes from {failure.distribution}, "
                f"whose plugin {failure.name!r} failed to load: {failure.error}",
                hint=f"reinstall it: pip install --force-reinstall {failure.distribution}",
            )
        excluded = _left_out_by_env(package)
        if excluded:
            raise MissingProviderError(
                f"aegis.config.{class_name} needs the {package} package, which is installed "
                f"but not loaded: {PLUGINS_ENV}={os.environ.get(PLUGINS_ENV, '')!r} leaves "
                f"out its plugin {', '.join(excluded)}",
                hint=f"add {excluded[0]} to {PLUGINS_ENV}, or unset it to load every plugin",
            )
        raise MissingProviderError(
            f"aegis.config.{class_name} needs the {package} package, which is not installed",
            hint=f"pip install {package}",
        )

    def _failure_for(self, name: str, package: str | None = None) -> PluginInfo | None:
        """The failed plugin that most likely provides ``name``."""
        for info in self.failures:
            dist = (info.distribution or "").lower()
            if (package and dist == package) or info.name in name or name in dist:
                return info
        return None

    def _not_found(self, name: str) -> ConfigError:
        installed = ", ".join(sorted(self._canonical)) or "none"
        package = next(
            (
                known_package
                for provider_name, known_package, aliases in KNOWN_PACKAGES.values()
                if name == provider_name or name in aliases
            ),
            None,
        )
        failure = self._failure_for(name, package)
        if failure is not None:
            return MissingProviderError(
                f"provider {name!r} is not available: plugin {failure.name!r} of "
                f"{failure.distribution} failed to load: {failure.error}",
                hint=f"fix or reinstall {failure.distribution}; `aegis plugins` shows every "
                "plugin and its error",
            )
        if package is not None:
            excluded = _left_out_by_env(package)
            if excluded:
                return MissingProviderError(
                    f"provider {name!r} is not loaded: {package} is installed, but "
                    f"{PLUGINS_ENV}={os.environ.get(PLUGINS_ENV, '')!r} leaves out its plugin "
                    f"{', '.join(excluded)} (loaded: {installed})",
                    hint=f"add {excluded[0]} to {PLUGINS_ENV}, or unset it to load every plugin",
                )
            return MissingProviderError(
                f"provider {name!r} is not installed (installed: {installed})",
                hint=f"pip install {package}",
            )
        hint = (
            "`aegis providers` lists the installed providers; a provider for another "
            "CLI comes from a plugin package"
        )
        if self.failures:
            failed = "; ".join(
                f"{info.name} ({info.distribution}): {info.error}" for info in self.failures
            )
            hint += f". Plugins that failed to load: {failed}"
        left_out = _left_out_by_env(None)
        if left_out:
            hint = (
                f"{PLUGINS_ENV}={os.environ.get(PLUGINS_ENV, '')!r} leaves out the installed "
                f"plugins {', '.join(left_out)}: add the one that provides {name!r}, or unset "
                f"it to load every plugin. {hint[0].upper()}{hint[1:]}"
            )
        return ConfigError(f"unknown provider {name!r} (installed: {installed})", hint=hint)


def _left_out_by_env(package: str | None) -> list[str]:
    """The ``aegis`` entry points of ``package`` (``None``: of any package) that
    ``AEGIS_PLUGINS`` leaves out.

    Empty when ``AEGIS_PLUGINS`` is not set or the package is not installed.
    """
    allowed = allowed_plugins()
    if allowed is None:
        return []
    if package is None:
        entry_points = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    else:
        try:
            entry_points = list(metadata.distribution(package).entry_points)
        except metadata.PackageNotFoundError:
            return []
    return sorted(
        {
            ep.name
            for ep in entry_points
            if ep.group == ENTRY_POINT_GROUP
            and ep.name not in allowed
            and ep.value not in BUILTIN_PLUGINS  # loaded whatever AEGIS_PLUGINS says
        }
    )


def get_registry() -> ProviderRegistry:
    """The provider registry of the process's plugin host, built on first call."""
    return get_host().derived(ProviderRegistry)
