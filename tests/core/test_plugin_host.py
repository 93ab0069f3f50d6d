"""The plugin host owns every registry derived from the plugins; replacing it resets them all."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aegis.mcp.tools import ToolRegistry
from aegis.plugins import PluginHost, get_host, reset_plugins
from aegis.queue.backends import queue_backend_factories
from aegis.registry import ProviderRegistry, get_registry
from aegis.workflow import get_workflow, list_workflows
from tests.plugins import every_hook


def derived_names() -> dict[str, bool]:
    """Whether each registry derived from the process's plugins has ``every_hook``'s entry."""
    return {
        "provider": "fake" in get_registry().names(),
        "workflow": get_workflow("every_hook_flow") is not None,
        "queue backend": "every-hook" in queue_backend_factories(),
        "tool": ToolRegistry.from_plugins().get("every_hook_echo") is not None,
    }


@pytest.fixture
def fresh_host() -> Iterator[None]:
    """The test starts and ends with a fresh host of the installed plugins."""
    reset_plugins()
    yield
    reset_plugins()


@pytest.mark.usefixtures("fresh_host")
def test_registering_a_plugin_updates_every_registry_derived_from_the_host() -> None:
    before = derived_names()

    get_host().register(every_hook, every_hook.NAME)
    registered = derived_names()
    get_host().unregister(every_hook)
    unregistered = derived_names()

    assert set(before.values()) == {False}
    assert set(registered.values()) == {True}
    assert set(unregistered.values()) == {False}
    assert get_host().info(every_hook.NAME) is None


@pytest.mark.usefixtures("fresh_host")
def test_replacing_the_host_replaces_every_registry_derived_from_it() -> None:
    host = PluginHost()
    host.register(every_hook, every_hook.NAME)

    reset_plugins(host)
    with_plugin = derived_names()
    reset_plugins()
    without = derived_names()

    assert set(with_plugin.values()) == {True}
    assert host.derived(ProviderRegistry).names() == ["fake"]
    assert list_workflows() != [] and set(without.values()) == {False}


def test_a_registry_is_built_once_per_host() -> None:
    host = PluginHost()
    host.register(every_hook, every_hook.NAME)

    first = host.derived(ProviderRegistry)

    assert host.derived(ProviderRegistry) is first
    assert PluginHost().derived(ProviderRegistry) is not first
