"""The plane's address: a TCP socket on 127.0.0.1, on a port the OS picks.

Apart from :mod:`aegis.mcp.http` (which imports uvicorn) so that the plane can bind,
listen and hand its URL to agents before anything slow is loaded.
"""

from __future__ import annotations

import socket

HOST = "127.0.0.1"


def bind_local(backlog: int | None = None) -> socket.socket:
    """A TCP socket bound to a free port of 127.0.0.1; listening already when
    ``backlog`` is given (connections then queue until a server accepts them)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, 0))
        if backlog is not None:
            sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock
