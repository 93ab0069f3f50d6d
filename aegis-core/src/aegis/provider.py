"""The provider contract: what a plugin registers to teach aegis a new harness CLI.

A provider is declared once, as a subclass of :class:`Provider` typed over its
configuration class::

    class ExampleProvider(Provider[Example]):
        aliases = ("ex",)
        config_class = Example            # Example.harness == "example" is the name
        executable = "example-agent"
        install_hint = "pip install example-agent"
        description = "the example agent, over ACP"

        def open_driver(self, agent: Agent, options: SessionOptions) -> Driver:
            from aegis_example.driver import ExampleDriver

            return ExampleDriver(self, self.checked_config(agent), options)

Every other part of aegis reads these facts from the provider: the drivers built
on :class:`~aegis.driver.ProcessDriver` take the executable and the install hint
from it, ``aegis providers`` and ``aegis config check`` look the executable up with
:meth:`Provider.find_executable`, the same way a session does. Register an instance
from your plugin's ``register_providers`` hook.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from aegis.config.provider_config import ProviderConfig

if TYPE_CHECKING:
    from aegis.config.agent import Agent
    from aegis.driver import Driver, SessionOptions

C = TypeVar("C", bound=ProviderConfig)


def find_on_path(command: str, env: Mapping[str, str]) -> str | None:
    """The full path of ``command`` on the ``PATH`` of ``env``, as ``exec`` would find it.

    The one lookup of an executable: a session's process
    (:meth:`~aegis.driver.ProcessDriver.spawn`) and ``aegis providers`` both use it,
    so they cannot disagree. A relative path (``./bin/agent``) is taken from aegis's
    working directory, whatever the session's.
    """
    found = shutil.which(command, path=env.get("PATH", os.defpath))
    # Absolute: a relative command is aegis's (the project's), not the session's cwd's.
    return os.path.abspath(found) if found is not None else None


class Provider(Generic[C]):
    """Base class of every provider, typed over its configuration class ``C``.

    Class attributes to set in a subclass:

    ``config_class``
        The pydantic configuration class (a :class:`~aegis.config.ProviderConfig`
        subclass) holding this provider's per-agent settings. Its ``harness`` class
        variable is the provider's canonical name (``Agent(harness=...)``): the
        configuration must know it without the provider (``Agent(provider=...)``),
        so that is where it is stated, and :attr:`name` is taken from it.
    ``aliases``
        Other accepted names, e.g. ``("claude",)``.
    ``executable``
        The command this provider runs (looked up on ``PATH``), or ``None`` for a
        provider that needs no external program. A profile's ``executable`` field
        replaces it.
    ``install_hint``
        What to run to install the executable, shown when it is missing.
    ``description``
        One line for ``aegis providers``.
    """

    name: ClassVar[str]
    """The canonical name: ``config_class.harness`` (set for you)."""
    aliases: ClassVar[tuple[str, ...]] = ()
    config_class: type[C]
    executable: ClassVar[str | None] = None
    install_hint: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        config_class = cls.__dict__.get("config_class")
        if config_class is None:
            return  # an abstract intermediate class
        harness = getattr(config_class, "harness", None)
        if not isinstance(harness, str) or not harness:
            raise TypeError(
                f"{cls.__name__}.config_class {config_class.__name__} sets no harness name"
            )
        declared = cls.__dict__.get("name")
        if declared is not None and declared != harness:
            raise TypeError(
                f"{cls.__name__}.name {declared!r} disagrees with "
                f"{config_class.__name__}.harness {harness!r}: state the name once, "
                "as the configuration class's harness"
            )
        cls.name = harness

    def names(self) -> tuple[str, ...]:
        """The canonical name followed by the aliases."""
        return (self.name, *self.aliases)

    def command(self, config: ProviderConfig | None = None) -> str | None:
        """The command a session of ``config`` runs: the profile's ``executable``, else ours."""
        return (config.executable if config is not None else None) or self.executable

    def find_executable(
        self, config: ProviderConfig | None = None, env: Mapping[str, str] | None = None
    ) -> str | None:
        """The full path of the executable to run, or ``None`` when it is not found.

        A profile may override the command with its ``executable`` field. It is
        looked up on the ``PATH`` of ``env`` (default: this process's environment
        under the profile's ``env``), as the session's process will be started:
        :class:`~aegis.driver.ProcessDriver` uses this same method, so what
        ``aegis providers`` and ``aegis config check`` report is what a session runs.
        """
        command = self.command(config)
        if command is None:
            return None
        if env is None:
            env = {**os.environ, **(config.env if config is not None else {})}
        return find_on_path(command, env)

    def version(self, path: str, timeout: float = 10.0) -> str | None:
        """The version the executable at ``path`` reports, or ``None`` if it can't tell.

        The default runs ``path --version`` and keeps its first line. It is only
        called by commands that show versions (``aegis providers``), never on a
        session's path.
        """
        try:
            done = subprocess.run(
                [path, "--version"],
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        lines = (done.stdout or done.stderr).strip().splitlines()
        return lines[0].strip() if done.returncode == 0 and lines else None

    def open_driver(self, agent: Agent, options: SessionOptions) -> Driver:
        """A driver for one session of ``agent`` (see :mod:`aegis.driver`).

        Called by the session layer; the driver is entered with ``async with`` and
        started there. Providers that can run sessions override this, typically as
        ``return MyDriver(self, self.checked_config(agent), options)`` with a
        :class:`~aegis.driver.ProcessDriver` or :class:`~aegis.acp.driver.AcpDriver`
        subclass imported inside the method (so that registering the provider stays
        cheap).
        """
        from aegis.errors import DriverError

        raise DriverError(f"provider {self.name!r} cannot open sessions")

    def checked_config(self, agent: Agent, cls: type[C] | None = None) -> C:
        """``agent.provider``, which ``open_driver`` expects to be a ``config_class``.

        Raises ``DriverError`` naming both classes when it is not (an agent built for
        another provider was handed to this one). ``cls`` defaults to
        :attr:`config_class`.
        """
        from aegis.errors import DriverError

        expected = cls if cls is not None else self.config_class
        config = agent.provider
        if not isinstance(config, expected):
            raise DriverError(
                f"agent's provider is {type(config).__name__}, not {expected.__name__}: "
                f"the {self.name!r} provider cannot drive it"
            )
        return config

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
