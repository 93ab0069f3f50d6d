"""Who runs a task: an owner string naming one aegis process, and whether it still runs.

An owner is ``"<host>:<pid>:<process start time>"``. The start time makes it name
one process and not a pid: after a crash and a reboot (or a long uptime) the pid
may belong to another program, which must not keep a dead aegis's tasks running.
"""

from __future__ import annotations

import os
import socket
import subprocess
from functools import cache
from pathlib import Path

_UNKNOWN_START = "?"


def process_start_time(pid: int) -> str | None:
    """When process ``pid`` started, as an opaque token; ``None`` when it does not run."""
    stat = Path(f"/proc/{pid}/stat")
    if Path("/proc/self/stat").exists():
        try:
            text = stat.read_text()
        except OSError:
            return None
        # The command name (field 2) may hold spaces and parentheses: split after it.
        fields = text[text.rindex(")") + 2 :].split()
        if fields[0] == "Z":  # a zombie has exited; only its exit status is left
            return None
        return fields[19]  # field 22, starttime, in clock ticks since boot
    try:  # macOS and other systems without /proc
        out = subprocess.run(
            ["ps", "-o", "lstart=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return _UNKNOWN_START if _pid_exists(pid) else None
    return out.replace(" ", "_") or None


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, and belongs to someone else
        return True
    return True


def current_owner() -> str:
    """The owner string of this process."""
    return _owner_of(os.getpid())  # keyed by pid: a forked child is another owner


@cache
def _owner_of(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}:{process_start_time(pid) or _UNKNOWN_START}"


def is_owner_alive(owner: str) -> bool:
    """Whether the process an owner string names still runs.

    An owner on another host cannot be checked from here and counts as alive: its
    own host recovers its tasks when aegis starts there again.
    """
    host, _, rest = owner.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname():
        return True
    try:
        pid = int(pid_text)
    except ValueError:
        return False  # not an owner string aegis wrote
    now = process_start_time(pid)
    if now is None:
        return False
    # A start time that could not be read on either side leaves only the pid to go by.
    return started == _UNKNOWN_START or now in (_UNKNOWN_START, started)
