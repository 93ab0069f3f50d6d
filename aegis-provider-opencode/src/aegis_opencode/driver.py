"""``OpenCodeDriver``: a session of ``opencode acp``, on aegis's shared ACP driver."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from aegis.acp.driver import AcpDriver
from aegis.config.enums import Permission
from aegis.errors import DriverError
from aegis_opencode.config import OpenCode

CONFIG_CONTENT = "OPENCODE_CONFIG_CONTENT"
"""opencode's environment variable holding configuration JSON, merged over its config files."""

PERMISSIONS: dict[Permission, str | dict[str, str] | None] = {
    Permission.read: {"edit": "deny", "bash": "deny"},
    Permission.write: {"edit": "allow", "bash": "ask"},
    Permission.full: "allow",
    Permission.auto: None,
}
"""The opencode ``permission`` configuration of each aegis permission (``None``: the user's)."""


class OpenCodeDriver(AcpDriver[OpenCode]):
    """One session of OpenCode (``opencode acp --cwd CWD``).

    **Model.** ``opencode acp`` has no model flag. ``session/new`` (and ``session/load``)
    return a ``model`` configuration option whose values are ``provider/model``; the
    profile's model is chosen with ``session/set_config_option`` (the base class's
    :meth:`~aegis.acp.driver.AcpDriver.configure_session`), so a model opencode does not
    offer fails :meth:`start` with a :class:`~aegis.errors.DriverError` that lists the
    ones it does. Without a profile model, opencode's configured ``model`` is used.

    **Permission.** opencode's ``permission`` configuration is what decides whether a
    tool runs, asks, or is refused, for every agent of the session (subagents included),
    so the profile's permission goes there, through ``OPENCODE_CONFIG_CONTENT`` (which
    opencode merges over the user's and the project's config files; other keys a user
    put in that variable are kept):

    * ``read``: ``{"edit": "deny", "bash": "deny"}``;
    * ``write``: ``{"edit": "allow", "bash": "ask"}`` — opencode then asks over ACP, and
      aegis answers from the profile (``write`` refuses commands);
    * ``full``: ``"allow"``, everything;
    * ``auto``: nothing is set; the user's configuration rules.

    Tools not named keep opencode's defaults (allowed, but ``ask`` for paths outside
    the project and for ``.env`` files, which aegis again answers from the profile).
    opencode's other switch, the session's ``mode`` option (``build`` / ``plan``), is
    left alone: it changes the agent's instructions rather than what may run, and the
    model can leave ``plan`` by itself (its ``plan_exit`` tool).

    **Other facts** (opencode 1.18): ``session/cancel`` ends the prompt with
    ``stopReason: "cancelled"``; ``session/load`` replays the conversation before it
    answers; the prompt response carries ``usage {inputTokens, outputTokens,
    totalTokens, ...}``; a model API error answers ``session/prompt`` with JSON-RPC
    error ``-32603`` whose ``data`` holds the API's message, after which the driver
    ends the session (``prompt_error_is_fatal``).
    """

    # A model API failure must fail the session visibly rather than leave it looking
    # healthy (the project's rule for gemini and opencode).
    prompt_error_is_fatal: ClassVar[bool] = True

    def arguments(self) -> list[str]:
        return ["acp", "--cwd", str(self.cwd)]

    def adjust_environment(self, env: dict[str, str]) -> dict[str, str]:
        # Merged into whatever the user's and the profile's env hold for the variable.
        permission = PERMISSIONS[self.config.permission]
        if permission is not None:
            env[CONFIG_CONTENT] = config_content(env.get(CONFIG_CONTENT), permission)
        return env


def config_content(existing: str | None, permission: str | dict[str, str]) -> str:
    """``OPENCODE_CONFIG_CONTENT`` holding ``permission`` over the ``existing`` value's keys."""
    config: Any = {}
    if existing and existing.strip():
        try:
            config = json.loads(existing)
        except ValueError as exc:
            raise DriverError(f"{CONFIG_CONTENT} is not valid JSON: {exc}") from None
        if not isinstance(config, dict):
            raise DriverError(f"{CONFIG_CONTENT} must hold a JSON object, not {existing[:80]!r}")
    return json.dumps({**config, "permission": permission})


__all__ = ["CONFIG_CONTENT", "PERMISSIONS", "OpenCodeDriver", "config_content"]
