"""The built-in offline ``scripted`` provider: replies scripted by the profile.

It needs no network, no credentials and no external CLI, which makes it the
provider of the demo, of a fresh machine, and of tests of your own workflows::

    Agent(provider=Scripted(rules=[
        ScriptRule(match=r"(?i)hello", reply="Hi! What shall we build?"),
        ScriptRule(match=r"run the tests", tool_calls=[ScriptedToolCall(
            tool="bash", input={"command": "pytest -q"})], reply="Tests ran."),
    ]))

A message that matches no rule is echoed back (``echo: <message>``).

The agent is a real ACP agent process (:mod:`aegis.builtins.scripted_agent`), driven
by the same :class:`~aegis.acp.driver.AcpDriver` as the ACP CLIs, so a session of it
goes through every layer a real harness does: its tool calls really run (in the
session's working directory), it asks permission before edits and commands when the
profile's permission is ``read``, ``write`` or ``full`` (with ``auto`` it just runs
them, as a CLI's own default would), it streams its replies, honours interrupts,
reports usage (one token per word) and resumes sessions from the history it keeps
under ``.aegis/scripted/`` in the session's working directory.
"""

from __future__ import annotations

import json
import re
import sys
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aegis.acp.driver import AcpDriver
from aegis.config.provider_config import ProviderConfig
from aegis.hookspecs import hookimpl
from aegis.provider import Provider

if TYPE_CHECKING:
    from aegis.config.agent import Agent
    from aegis.driver import Driver, SessionOptions
    from aegis.events import SessionStarted

CONFIG_ENV = "AEGIS_SCRIPTED_CONFIG"
"""The agent's configuration as JSON: ``{"rules": [...], "permission": "auto", "model": "..."}``."""
CONFIG_FILE_ENV = "AEGIS_SCRIPTED_CONFIG_FILE"
"""A file holding that JSON instead, used when it is too large for the environment."""
STATE_ENV = "AEGIS_SCRIPTED_STATE"
"""Where the agent keeps session histories (default: ``<cwd>/.aegis/scripted``)."""


class ScriptedToolCall(BaseModel):
    """A tool call the scripted agent makes before it replies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: str
    """``bash``, ``read_file``, ``write_file``, or ``mcp:<server>/<tool>``."""
    input: dict[str, Any] = Field(default_factory=dict)
    """The tool's arguments, e.g. ``{"command": "ls"}`` for ``bash``.

    Strings in it take the reply's placeholders (``{1}``, ``{message}``, ``{turn}``),
    and ``{output}`` is the output of the call before it in the rule."""


class ScriptRule(BaseModel):
    """When a message matches ``match``, make the tool calls, then reply."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    match: str
    """A regular expression searched for in the incoming message."""
    reply: str = ""
    """The reply text, with placeholders filled in.

    ``{0}`` is the whole match and ``{1}``, ``{2}``... its groups; ``{message}`` is the
    message, ``{output}`` the output of the last tool call (stripped), and ``{turn}`` the number of
    this turn in the session (counting turns before a resume). Other braces stay as
    they are.
    """
    tool_calls: tuple[ScriptedToolCall, ...] = ()
    delay: float = Field(default=0.0, ge=0.0)
    """Seconds to wait before replying (to simulate a slow model)."""
    error: str | None = None
    """Instead of replying, fail the turn with this message, as a CLI reports a model API
    error (an error answer to ``session/prompt``; the turn is not kept in the history)."""
    cost_usd: float | None = Field(default=None, ge=0.0)
    """What the turn costs, in US dollars, reported as a CLI reports its cost (the
    session's running total in ``usage_update``): for testing budgets offline. Without
    it the agent reports tokens only (one per word)."""

    @field_validator("match")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class Scripted(ProviderConfig):
    """The offline ``scripted`` provider: an agent whose replies follow ``rules``."""

    harness: ClassVar[str] = "scripted"

    model: str | None = "scripted"
    rules: tuple[ScriptRule, ...] = ()
    """Tried in order; the first whose ``match`` is found in the message answers."""


class ScriptedProvider(Provider[Scripted]):
    """Provider of the offline ``scripted`` agent shipped in aegis-core."""

    aliases = ("offline",)
    config_class = Scripted
    executable = None
    description = "built-in offline agent whose replies are scripted in the profile"

    def open_driver(self, agent: Agent, options: SessionOptions) -> Driver:
        return ScriptedDriver(self, self.checked_config(agent), options)


class ScriptedDriver(AcpDriver[Scripted]):
    """Runs the scripted agent process (``python -m aegis.builtins.scripted_agent``).

    Its executable is the Python interpreter running aegis, unless the profile names
    another ``executable``.
    """

    env_limit: ClassVar[int] = 64 * 1024
    """A configuration larger than this (in bytes) is read from an inherited pipe, not
    the environment."""

    def __init__(
        self, provider: Provider[Scripted], config: Scripted, options: SessionOptions
    ) -> None:
        super().__init__(provider, config, options)
        self.config_json = json.dumps(
            {
                "rules": [rule.model_dump(mode="json") for rule in config.rules],
                "permission": config.permission.value,
                "model": config.model or "scripted",
            }
        )
        self._config_path: str | None = None

    def default_executable(self) -> str:
        return sys.executable

    def arguments(self) -> list[str]:
        return ["-m", "aegis.builtins.scripted_agent"]

    def adjust_environment(self, env: dict[str, str]) -> dict[str, str]:
        # Whichever way is not used must not leak in from aegis's own environment.
        env.pop(CONFIG_FILE_ENV, None)
        env.pop(CONFIG_ENV, None)
        if self._config_path is not None:
            env[CONFIG_FILE_ENV] = self._config_path
        else:
            env[CONFIG_ENV] = self.config_json
        return env

    async def start(self) -> SessionStarted:
        if len(self.config_json.encode()) > self.env_limit and self._config_path is None:
            self._config_path = self.inherit_text(self.config_json)
        return await super().start()


@hookimpl
def register_providers(register: Any) -> None:
    register(ScriptedProvider())
