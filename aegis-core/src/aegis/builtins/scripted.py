"""The built-in offline ``scripted`` provider: replies scripted by the profile.

It needs no network, no credentials and no external CLI, which makes it the
provider of the demo, of a fresh machine, and of tests of your own workflows::

    Agent(provider=Scripted(rules=[
        ScriptRule(match=r"(?i)hello", reply="Hi! What shall we build?"),
        ScriptRule(match=r"run the tests", tool_calls=[ScriptedToolCall(
            tool="bash", input={"command": "pytest -q"})], reply="Tests ran."),
    ]))

A message that matches no rule is echoed back.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aegis.config.provider_config import ProviderConfig
from aegis.hookspecs import hookimpl
from aegis.provider import Provider


class ScriptedToolCall(BaseModel):
    """A tool call the scripted agent makes before it replies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: str
    """``bash``, ``read_file``, ``write_file``, or ``mcp:<server>/<tool>``."""
    input: dict[str, Any] = Field(default_factory=dict)
    """The tool's arguments, e.g. ``{"command": "ls"}`` for ``bash``."""


class ScriptRule(BaseModel):
    """When a message matches ``match``, make the tool calls, then reply."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    match: str
    """A regular expression searched for in the incoming message."""
    reply: str = ""
    """The reply text; ``{0}``, ``{1}``... are the match's groups, ``{message}`` the message."""
    tool_calls: tuple[ScriptedToolCall, ...] = ()
    delay: float = Field(default=0.0, ge=0.0)
    """Seconds to wait before replying (to simulate a slow model)."""

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


class ScriptedProvider(Provider):
    """Provider of the offline ``scripted`` agent shipped in aegis-core."""

    name = "scripted"
    aliases = ("offline",)
    config_class = Scripted
    executable = None
    description = "built-in offline agent whose replies are scripted in the profile"


@hookimpl
def register_providers(register: Any) -> None:
    register(ScriptedProvider())
