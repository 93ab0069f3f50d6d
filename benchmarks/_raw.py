"""The baselines: the same CLIs driven by minimal clients, without aegis.

They reuse the hand-written protocol clients of ``tests.support.rawclients`` (a
blocking reader thread per pipe, one JSON line at a time) and start each CLI the
way aegis's driver does, so that what differs is aegis alone:

* ``scripted``: ``python -m aegis.builtins.scripted_agent`` with the configuration
  the ``scripted`` provider would give it (:func:`scripted_config`), over ACP;
* ``claude``: aegis's flags (``--include-partial-messages``, ``--session-id``,
  ``--permission-mode bypassPermissions``) and its default ``ENABLE_TOOL_SEARCH``;
* ``gemini`` and ``opencode``: ``rawclients`` as they are (``gemini --acp -m MODEL
  --skip-trust --approval-mode yolo``, ``opencode acp --cwd``), which is what aegis
  runs for a profile with permission ``full``.

Every CLI gets the environment aegis would give it: the benchmark process's own,
then the isolated one of ``tests.support.clis`` (``HOME``, keys, the fake model's
URL). The inherited part matters: on the reference machine ``NODE_EXTRA_CA_CERTS``
alone adds about 5 % to claude's and gemini's start.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

from aegis.builtins.scripted import CONFIG_ENV, ScriptRule
from tests.support.clis import GEMINI_MODEL, cli_env
from tests.support.rawclients import (
    AcpClient,
    AcpRawSession,
    ClaudeStreamJson,
    RawSession,
    RawTurn,
    gemini_acp,
    kill_process_group,
    opencode_acp,
)

Name = Literal["scripted", "claude", "gemini", "opencode"]

SCRIPTED_ARGV = (sys.executable, "-m", "aegis.builtins.scripted_agent")

CLAUDE_AEGIS_ARGS = ("--include-partial-messages", "--permission-mode", "bypassPermissions")
"""The flags ``ClaudeDriver`` adds to ``rawclients``' for a profile with permission ``full``."""
CLAUDE_AEGIS_ENV = {"ENABLE_TOOL_SEARCH": "false"}
"""The variable ``ClaudeDriver`` sets by default."""


def scripted_config(rules: Sequence[ScriptRule], permission: str = "auto") -> str:
    """The ``AEGIS_SCRIPTED_CONFIG`` that the ``scripted`` provider gives its agent."""
    return json.dumps(
        {
            "rules": [rule.model_dump(mode="json") for rule in rules],
            "permission": permission,
            "model": "scripted",
        }
    )


def scripted_env(rules: Sequence[ScriptRule]) -> dict[str, str]:
    """The scripted agent's environment: ours plus its configuration (as aegis does)."""
    return {**os.environ, CONFIG_ENV: scripted_config(rules)}


class ScriptedRawSession(AcpRawSession):
    """The scripted agent, initialised with one session open, over a minimal ACP client."""

    def __init__(self, env: Mapping[str, str], cwd: Path) -> None:
        super().__init__("scripted", AcpClient(list(SCRIPTED_ARGV), env, cwd), cwd)

    def exit(self, timeout: float = 10.0) -> None:
        """End the agent as a client would: close its stdin and wait for it to exit."""
        proc = self.client.proc
        if proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
        # A plain blocking wait: Popen.wait(timeout=...) polls with sleeps of up to 50 ms,
        # which would add to every run. The timer only fires for an agent that hangs.
        timer = threading.Timer(timeout, kill_process_group, args=(proc,))
        timer.start()
        try:
            proc.wait()
        finally:
            timer.cancel()


class ClaudeRawSession(RawSession):
    """claude over stream-json, started with aegis's flags; ``initialize`` answered."""

    def __init__(self, executable: Path, env: Mapping[str, str], cwd: Path) -> None:
        args = [*CLAUDE_AEGIS_ARGS, "--session-id", str(uuid.uuid4())]
        self.client = ClaudeStreamJson(executable, {**env, **CLAUDE_AEGIS_ENV}, cwd, args)
        try:
            self.client.control("initialize", timeout=60.0)
        except BaseException:
            self.client.close()
            raise

    def turn(self, text: str, timeout: float = 60.0) -> RawTurn:
        done = self.client.turn(text, timeout)
        return RawTurn(done.text, str(done.result.get("stop_reason")), done.messages)

    def close(self) -> None:
        self.client.close()


def raw_starter(
    name: Name, tmp: Path, url: str, rules: Sequence[ScriptRule] = ()
) -> Callable[[], RawSession]:
    """A function that starts CLI ``name`` (isolated under ``tmp``, working in
    ``tmp/project``) and returns once its session is ready for a first message.

    The environment (``HOME``, config files) is prepared now, once, so that calling
    the function costs the process start and the handshake only: the same handshake
    aegis's driver waits for before it calls a session ``ready``.
    """
    project = tmp / "project"
    project.mkdir(parents=True, exist_ok=True)
    if name == "scripted":
        env = scripted_env(rules)
        return lambda: ScriptedRawSession(env, project)
    executable, own, _ = cli_env(name, tmp, url)
    env = {**os.environ, **own}  # what aegis gives a CLI: its environment, then the session's
    if name == "claude":
        return lambda: ClaudeRawSession(executable, env, project)
    if name == "gemini":
        return lambda: AcpRawSession(
            name, gemini_acp(executable, env, project, GEMINI_MODEL), project
        )
    return lambda: AcpRawSession(name, opencode_acp(executable, env, project), project)
