"""``GeminiDriver``: a session of ``gemini --acp``, on aegis's shared ACP driver.

The command is ``gemini --acp [-m MODEL] --skip-trust --approval-mode MODE`` followed by
the profile's ``extra_args``, with the approval mode of the profile's permission
(:data:`~aegis_gemini.config.APPROVAL_MODES`). Facts of gemini-cli 0.61 it relies on:

* ``--approval-mode`` given twice, or together with ``--yolo``, is a fatal configuration
  error (after which gemini has been seen to hang rather than exit), so ``extra_args``
  that would do it are refused with a :class:`~aegis.errors.DriverError` before anything
  starts; so is a ``-m``/``--model`` there when the profile names a model.
* ``GEMINI_CLI_NO_RELAUNCH=true`` keeps gemini from re-running itself in a child node
  process whose parent ignores SIGTERM.
* MCP servers go through ``session/new`` (and ``session/load``); their tools are offered
  as ``mcp_NAME_TOOL``. With one connected gemini no longer exits when its stdin closes,
  which the process's SIGTERM escalation takes care of.
* Usage comes only in the ``session/prompt`` response, as
  ``_meta.quota.token_count {input_tokens, output_tokens}`` summed over the turn's model
  requests.
* Tool calls carry no ``rawInput``: a ``run_shell_command`` call's command is its title.
  Its output reaches ACP only when gemini's interactive shell is off
  (``{"tools": {"shell": {"enableInteractiveShell": false}}}`` in its settings); with
  the default pseudo-terminal shell the completed update has no content, so the
  :class:`~aegis.events.ToolResult` is empty (the model still gets the output).
  Commands holding ``$(…)``, backticks, ``<(…)`` or ``>(…)`` are refused by gemini
  itself, in every approval mode.
* ``session/cancel`` ends the pending prompt with ``stopReason: "cancelled"`` within
  milliseconds, and gemini drops the cancelled prompt from its history.
* A model API error (e.g. a 400) answers ``session/prompt`` with a JSON-RPC error carrying
  the API's message; the driver ends the session there (``prompt_error_is_fatal``).

Resuming (``session/load``, offered as ``loadSession``) needs the ``HOME`` and working
directory the session was created with: gemini keeps conversations in
``~/.gemini/tmp/<project>/chats/`` per project directory. Two gemini bugs are worked
around: its ``session/load`` can wipe the conversation it is about to load
(:func:`shelter_chat_files`), and it answers ``session/load`` before it has replayed the
conversation (hence :attr:`GeminiDriver.replay_quiet`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import anyio

from aegis.acp.driver import AcpDriver
from aegis.acp.translate import UpdateTranslator
from aegis.errors import DriverError
from aegis.events import SessionStarted
from aegis_gemini.config import APPROVAL_MODES, GeminiCLI

if TYPE_CHECKING:
    from aegis.driver import SessionOptions
    from aegis.provider import Provider

NO_RELAUNCH = {"GEMINI_CLI_NO_RELAUNCH": "true"}
"""Environment that keeps gemini in the process aegis started (and in its process group)."""

_APPROVAL_FLAGS = ("--approval-mode", "--yolo", "-y")
_MODEL_FLAGS = ("-m", "--model")


def _flag_name(arg: str) -> str:
    return arg.split("=", 1)[0] if arg.startswith("--") else arg


def check_extra_args(extra_args: tuple[str, ...] | list[str], *, model_set: bool) -> None:
    """Refuse ``extra_args`` that repeat a flag aegis sets itself.

    gemini treats a second ``--approval-mode`` (or ``--yolo`` beside it) as a fatal
    configuration error; a second ``-m`` would silently contradict the profile's model.
    """
    for arg in extra_args:
        name = _flag_name(arg)
        if name in _APPROVAL_FLAGS:
            raise DriverError(
                f"the profile's extra_args hold {arg!r}, but aegis sets gemini's "
                "--approval-mode from the profile's permission (read=plan, write=auto_edit, "
                "full=yolo, auto=default): set permission instead"
            )
        if model_set and name in _MODEL_FLAGS:
            raise DriverError(
                f"the profile's extra_args hold {arg!r}, but the profile's model is passed "
                "as -m already: set only one of them"
            )


class GeminiTranslator(UpdateTranslator):
    """gemini's updates, without the environment block it replays as a user message.

    gemini opens every conversation with a ``<session_context>`` message of its own
    (date, OS, directory listing) and replays it on ``session/load`` like anything the
    user said; it is not part of the conversation, so it stays out of the history.
    """

    def handle(self, update: Mapping[str, Any]) -> None:
        if update.get("sessionUpdate") == "user_message_chunk":
            content = update.get("content")
            text = content.get("text") if isinstance(content, Mapping) else None
            if isinstance(text, str) and text.lstrip().startswith("<session_context>"):
                return
        super().handle(update)


class GeminiDriver(AcpDriver[GeminiCLI]):
    """One session of Google's Gemini CLI (``gemini --acp``); see the module docs."""

    # A model API failure must fail the session visibly rather than leave it looking
    # healthy (the project's rule for gemini and opencode).
    prompt_error_is_fatal: ClassVar[bool] = True
    # gemini answers session/load first and replays the conversation afterwards, one
    # update per message written back to back; a pause this long means it is done.
    replay_quiet: ClassVar[float] = 0.3
    translator_class: ClassVar[type[UpdateTranslator]] = GeminiTranslator

    def __init__(
        self, provider: Provider[GeminiCLI], config: GeminiCLI, options: SessionOptions
    ) -> None:
        super().__init__(provider, config, options)
        self.sheltered: list[Path] = []
        """Chat files moved aside before ``session/load`` (see :func:`shelter_chat_files`)."""

    def arguments(self) -> list[str]:
        model = self.config.model
        check_extra_args(self.config.extra_args, model_set=model is not None)
        argv = ["--acp"]
        if model is not None:
            # Without -m gemini first asks a router model which model to use, every turn.
            argv += ["-m", model]
        return [
            *argv,
            # Trust decides whether project settings apply; a headless session cannot
            # answer gemini's trust dialog, and the folder is the user's own workspace.
            "--skip-trust",
            "--approval-mode",
            APPROVAL_MODES[self.config.permission],
        ]

    def adjust_environment(self, env: dict[str, str]) -> dict[str, str]:
        # Over the profile's env too: relaunched, gemini would leave aegis's process group.
        return {**env, **NO_RELAUNCH}

    async def start(self) -> SessionStarted:
        resume = self.options.resume
        if resume is not None:
            home = gemini_home(self.environment())
            self.sheltered = await anyio.to_thread.run_sync(
                shelter_chat_files, home, resume, datetime.now(UTC)
            )
            for path in self.sheltered:
                self.diagnostics.add(f"aegis: moved gemini's chat file aside to {path.name}")
        try:
            started = await super().start()
        except DriverError as exc:
            if resume is not None and "refused session/load" in str(exc):
                raise DriverError(
                    f"{exc}\ngemini keeps a session's conversation under "
                    f"{gemini_home(self.environment()) / '.gemini' / 'tmp'} by project "
                    f"directory: resume {resume!r} with the HOME and working directory "
                    f"({self.cwd}) it was created with"
                ) from None
            raise
        return started


def gemini_home(env: dict[str, str]) -> Path:
    """The folder holding gemini's ``.gemini`` for a process with environment ``env``."""
    home = env.get("GEMINI_CLI_HOME") or env.get("HOME")
    return Path(home) if home else Path.home()


def _sanitized(session_id: str) -> str:
    # gemini's sanitizeFilenamePart: what is not [A-Za-z0-9_-] becomes '_'.
    return re.sub(r"[^A-Za-z0-9_-]", "_", session_id)


def shelter_chat_files(home: Path, session_id: str, now: datetime) -> list[Path]:
    """Move ``session_id``'s chat files out of the way of gemini's ``session/load``.

    gemini-cli 0.61 names a chat file ``session-<UTC minute>-<first 8 of the id>.jsonl``.
    Its ``session/load`` first sets the session up as if new, which starts a chat file
    named after the *current* minute, and only then looks the conversation up. When that
    name is the existing file's (a resume within the minute the session began), gemini
    appends a record resetting the conversation to nothing: the load then fails with "No
    previous sessions found for this project" and the history is lost for good.

    gemini finds a conversation by the session id inside the file, not by the file's
    name, so renaming the file keeps it resumable and out of reach of that reset. Only
    files of this session named after the current minute are moved; the new name keeps
    gemini's ``session-`` prefix and ``-<short id>.jsonl`` suffix. Returns the new paths.
    """
    short = _sanitized(session_id)[:8]
    minute = now.astimezone(UTC).strftime("%Y-%m-%dT%H-%M")
    moved: list[Path] = []
    for path in sorted(home.glob(f".gemini/tmp/*/chats/session-{minute}-{short}.jsonl")):
        if _session_id_of(path) != session_id:
            continue
        for number in range(1, 1000):
            target = path.with_name(f"session-{minute}-kept{number}-{short}.jsonl")
            if not target.exists():
                break
        else:
            continue
        try:
            path.rename(target)
        except OSError:
            continue  # gone meanwhile, or not ours to move: gemini's own error will tell
        moved.append(target)
    return moved


def _session_id_of(path: Path) -> str | None:
    """The ``sessionId`` of a gemini chat file (in its first line), if readable."""
    try:
        with path.open(encoding="utf-8") as file:
            first = json.loads(file.readline() or "null")
    except (OSError, ValueError):
        return None
    value = first.get("sessionId") if isinstance(first, dict) else None
    return value if isinstance(value, str) else None


__all__ = [
    "NO_RELAUNCH",
    "GeminiDriver",
    "GeminiTranslator",
    "check_extra_args",
    "gemini_home",
    "shelter_chat_files",
]
