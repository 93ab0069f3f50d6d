"""The plugin module named by the ``aegis`` entry point of aegis-example-provider."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aegis import hookimpl
from aegis.provider import Provider
from aegis_example.config import Example

if TYPE_CHECKING:
    from aegis.config import Agent
    from aegis.driver import Driver, SessionOptions


class ExampleProvider(Provider[Example]):
    """A provider for ``example-agent``, a small ACP coding agent."""

    aliases = ("ex",)
    config_class = Example  # its harness, "example", is the provider's name
    executable = "example-agent"
    install_hint = "pip install aegis-example-provider"
    description = "the plugin author guide's example provider"

    def open_driver(self, agent: Agent, options: SessionOptions) -> Driver:
        from aegis_example.driver import ExampleDriver

        return ExampleDriver(self, self.checked_config(agent), options)


@hookimpl
def register_providers(register: Callable[[Provider[Any]], None]) -> None:
    register(ExampleProvider())
