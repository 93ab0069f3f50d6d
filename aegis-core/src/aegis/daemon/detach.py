"""The launcher between a client and the daemon it starts, so the daemon is nobody's child.

A daemon started with ``subprocess.Popen`` by a long-lived client (the TUI) would be
that client's child: when the daemon exits, nobody waits for it and it stays a
zombie for as long as the client lives. So a client runs this module instead::

    python -m aegis.daemon.detach python -m aegis ... daemon run

which starts the daemon in a session of its own and stays only while the client
watches the start (its standard input is a pipe from the client):

* the daemon exits first: the launcher exits with the daemon's status, which the
  client reports (``the aegis daemon exited as it started (status N)``);
* the client closes the pipe (the daemon answers, the client gave up, or the client
  died): the launcher exits at once, and the client reaps it. The daemon, an orphan
  now, belongs to init (or the closest subreaper), which reaps it when it ends.

Standard output and error are inherited by the daemon: the client points them at
``.aegis/daemon.log``. Nothing here imports more than the standard library.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys

POLL_S = 0.05
"""How often the daemon's life is looked at where a process descriptor is not available."""


def launch(argv: list[str]) -> int:
    """Start ``argv`` detached; return once it exits (its status) or stdin closes (0)."""
    daemon = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # no terminal: Ctrl+C or a closed terminal never reach it
        close_fds=True,
    )
    watch: int | None
    try:
        watch = os.pidfd_open(daemon.pid)  # readable once the daemon has exited
    except (AttributeError, OSError):
        watch = None
    client = sys.stdin.fileno()
    while True:
        fds = [client] if watch is None else [client, watch]
        ready, _, _ = select.select(fds, [], [], POLL_S if watch is None else None)
        status = daemon.poll()
        if status is not None:
            return status if status >= 0 else 128 - status  # killed by a signal: 128 + N
        if client in ready:
            return 0  # the client let go (or is gone): the daemon lives on without us


def main() -> None:
    """``python -m aegis.daemon.detach ARGV...``."""
    if len(sys.argv) < 2:
        sys.exit("usage: python -m aegis.daemon.detach COMMAND [ARG...]")
    sys.exit(launch(sys.argv[1:]))


if __name__ == "__main__":
    main()
