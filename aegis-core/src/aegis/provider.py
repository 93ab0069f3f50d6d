"""The provider contract: what a plugin registers to teach aegis a new harness CLI.

A provider is a small object that names a harness, points at its configuration
class, and knows how to find and describe the executable it drives. Subclass
:class:`Provider`, set its class attributes, and register an instance from your
plugin's ``register_providers`` hook.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import TYPE_CHECKING, ClassVar, TypeVar

if TYPE_CHECKING:
    from aegis.config.agent import Agent
    from aegis.config.provider_config import ProviderConfig
    from aegis.driver import Driver, SessionOptions

C = TypeVar("C", bound="ProviderConfig")


class Provider:
    """Base class of every provider.

    Class attributes to set in a subclass:

    ``name``
        The canonical name used in ``Agent(harness=...)``, e.g. ``"claude-code"``.
    ``aliases``
        Other accepted names, e.g. ``("claude",)``.
    ``config_class``
        The pydantic configuration class (a :class:`~aegis.config.ProviderConfig`
        subclass) holding this provider's per-agent settings.
    ``executable``
        The command this provider runs (looked up on ``PATH``), or ``None`` for a
        provider that needs no external program.
    ``install_hint``
        What to run to install the executable, shown when it is missing.
    ``description``
        One line for ``aegis providers``.
    """

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    config_class: ClassVar[type[ProviderConfig]]
    executable: ClassVar[str | None] = None
    install_hint: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def names(self) -> tuple[str, ...]:
        """The canonical name followed by the aliases."""
        return (self.name, *self.aliases)

    def find_executable(self, config: ProviderConfig | None = None) -> str | None:
        """The full path of the executable to run, or ``None`` when it is not found.

        A profile may override the command with its ``executable`` field.
        """
        command = (config.executable if config is not None else None) or self.executable
        if command is None:
            return None
        return shutil.which(command)

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
        started there. Providers that can run sessions override this.
        """
        from aegis.errors import DriverError

        raise DriverError(f"provider {self.name!r} cannot open sessions")

    def checked_config(self, agent: Agent, cls: type[C]) -> C:
        """``agent.provider``, which ``open_driver`` expects to be a ``cls``.

        Raises ``DriverError`` naming both classes when it is not (an agent built for
        another provider was handed to this one).
        """
        from aegis.errors import DriverError

        config = agent.provider
        if not isinstance(config, cls):
            raise DriverError(
                f"agent's provider is {type(config).__name__}, not {cls.__name__}: "
                f"the {self.name!r} provider cannot drive it"
            )
        return config

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
