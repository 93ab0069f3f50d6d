"""Where ``Agent(harness=...)`` looks its provider up: the validation context, not a global."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aegis import hookimpl
from aegis.config import Agent, ConfigError, load_config
from aegis.config.agent import resolving_providers
from aegis.plugins import PluginHost, reset_plugins
from aegis.registry import ProviderRegistry, get_registry
from tests.session.fake_provider import Fake, FakeProvider


class FakePlugin:
    @hookimpl
    def register_providers(self, register: Any) -> None:
        register(FakeProvider())


def own_registry() -> ProviderRegistry:
    """The provider registry of a host of its own, knowing only the ``fake`` provider."""
    host = PluginHost()
    host.register(FakePlugin(), "fake-plugin")
    return host.derived(ProviderRegistry)


class NoProviders:
    """Providers that fail the test when asked anything."""

    def config_class_for(self, name: str) -> Any:
        raise AssertionError(f"looked up {name!r}")

    def canonical_name(self, name: str) -> str:
        raise AssertionError(f"looked up {name!r}")


def test_the_flat_shape_resolves_through_the_providers_of_the_validation_context() -> None:
    registry = own_registry()

    agent = Agent.model_validate({"harness": "fake", "model": "m"}, context={"providers": registry})

    assert agent == Agent(provider=Fake(model="m"))
    assert "fake" not in get_registry().names()
    with pytest.raises(ConfigError, match="unknown provider 'fake'"):
        Agent(harness="fake", model="m")


def test_agents_made_in_a_resolving_block_use_its_providers() -> None:
    with resolving_providers(own_registry()):
        agent = Agent(harness="fake", model="m")

    assert agent == Agent(provider=Fake(model="m"))


def test_a_provider_object_needs_no_provider_lookup() -> None:
    with resolving_providers(NoProviders()):
        agent = Agent(provider=Fake(model="m"), description="no lookup")

    assert agent.harness == "fake"


def test_the_loader_resolves_names_with_the_registry_of_the_plugin_host(
    write_config: Callable[[str], Path],
) -> None:
    host = PluginHost()
    host.register(FakePlugin(), "fake-plugin")
    write_config(
        "from aegis.config import Agent\n"
        "agents = {'main': Agent(harness='fake', model='m')}\n"
        "default_agent = 'main'\n"
    )
    reset_plugins(host)
    try:
        agents, _ = load_config()
    finally:
        reset_plugins()

    assert agents["main"] == Agent(provider=Fake(model="m"))
