"""How a terminal's shell starts: its command line, and the integration aegis injects.

bash gets an rc file (``--rcfile``) that first runs the person's own ``~/.bashrc``,
then wraps the prompt in OSC 133 marks: ``PS1`` is framed by ``A`` and ``B``, ``PS0``
(printed when a command line has been read, before it runs) writes ``C``, and a
``PROMPT_COMMAND`` run first writes ``D;$?`` with the status of what just ran.

zsh gets a ``ZDOTDIR`` whose ``.zshrc`` runs the person's own (from their
``ZDOTDIR`` or home), then adds a ``preexec`` hook (``C``) and a ``precmd`` hook put
first (``D;$?``), frames ``PS1`` likewise and turns ``PROMPT_SP`` off (its padding
would end up in the recorded output).

Any other shell starts as it is: without marks a terminal still runs commands and
shows output, only without exit statuses (see :class:`aegis.terminals.Terminal`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

BASH_RC = r"""# aegis shell integration for bash (OSC 133 marks), written by aegis at each start.
if [ -f "$HOME/.bashrc" ]; then . "$HOME/.bashrc"; fi
__aegis_precmd() {
    local status=$?
    printf '\033]133;D;%s\007' "$status"
    return $status
}
if [[ "$(declare -p PROMPT_COMMAND 2>/dev/null)" == "declare -a"* ]]; then
    PROMPT_COMMAND=(__aegis_precmd "${PROMPT_COMMAND[@]}")
else
    PROMPT_COMMAND="__aegis_precmd${PROMPT_COMMAND:+;$PROMPT_COMMAND}"
fi
PS1='\[\033]133;A\007\]'"${PS1:-\\s-\\v\\$ }"'\[\033]133;B\007\]'
PS0="${PS0}"$'\033]133;C\007'
"""

ZSH_RC = r"""# aegis shell integration for zsh (OSC 133 marks), written by aegis at each start.
__aegis_user_zdotdir="${AEGIS_USER_ZDOTDIR:-$HOME}"
if [[ -f "$__aegis_user_zdotdir/.zshrc" ]]; then
    ZDOTDIR="$__aegis_user_zdotdir" source "$__aegis_user_zdotdir/.zshrc"
fi
__aegis_precmd() {
    local exit_status=$?
    print -n "\e]133;D;${exit_status}\a"
    return $exit_status
}
__aegis_preexec() { print -n "\e]133;C\a"; }
# PROMPT_SP pads output that lacks a final newline with spaces up to the right edge,
# which a command's recorded output would then end with.
unsetopt PROMPT_SP
precmd_functions=(__aegis_precmd $precmd_functions)
preexec_functions+=(__aegis_preexec)
PS1=$'%{\e]133;A\a%}'"${PS1}"$'%{\e]133;B\a%}'
"""


def default_shell(env: Mapping[str, str]) -> str:
    """The person's shell (``$SHELL``), else bash, else ``/bin/sh``."""
    return env.get("SHELL") or shutil.which("bash") or "/bin/sh"


def shell_kind(shell: str) -> str | None:
    """``bash`` or ``zsh`` when aegis has an integration for ``shell``, else ``None``."""
    name = Path(shell.split()[0]).name
    return name if name in ("bash", "zsh") else None


def shell_command(
    shell: str, integration_dir: Path, env: Mapping[str, str]
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that start ``shell`` interactively, integrated when aegis can.

    ``integration_dir`` receives the rc files (written on every start, so that an
    upgraded aegis never runs an old one).
    """
    argv = shell.split()
    environ = {**env, "TERM": env.get("TERM") or "xterm-256color", "AEGIS_TERMINAL": "1"}
    kind = shell_kind(shell)
    if kind == "bash":
        rc = integration_dir / "bashrc"
        _write(rc, BASH_RC)
        return [*argv, "--rcfile", str(rc), "-i"], environ
    if kind == "zsh":
        zdotdir = integration_dir / "zsh"
        zdotdir.mkdir(parents=True, exist_ok=True)
        _write(zdotdir / ".zshrc", ZSH_RC)
        user = env.get("ZDOTDIR") or env.get("HOME") or ""
        environ.update(ZDOTDIR=str(zdotdir), AEGIS_USER_ZDOTDIR=user)
        return [*argv, "-i"], environ
    return argv, environ


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(text)
    temporary.replace(path)
