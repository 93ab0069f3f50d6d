"""A daemon of another aegis version, as its clients see it: the peer of version-skew tests.

``python other_daemon.py STATE_DIR VERSION LIVE RUNNING`` does what any aegis daemon
does with the project's files (holds ``daemon.lock`` with its pid, listens on
``daemon.sock``), and answers the protocol as a daemon of aegis ``VERSION`` (protocol
1) that runs ``LIVE`` sessions and ``RUNNING`` tasks would: every reply carries its
``Aegis-Version``, ``GET /v1/status`` says what it runs, ``POST /v1/daemon/stop``
stops it. It prints ``ready`` once it answers. Standard library only: it stands for
another installation of aegis.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path


def main(state_dir: Path, version: str, live: int, running: int) -> None:
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = os.open(state_dir / "daemon.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.ftruncate(lock, 0)
    os.write(lock, f"{os.getpid()}\n".encode())
    path = state_dir / "daemon.sock"
    path.unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()
    started = time.time()
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                request += chunk
            method, target = request.split(b" ", 2)[:2] if request else (b"", b"")
            stop = method == b"POST" and target.startswith(b"/v1/daemon/stop")
            body: dict[str, object] = (
                {"stopping": True, "pid": os.getpid()}
                if stop
                else {
                    "protocol": 1,
                    "aegis_version": version,
                    "pid": os.getpid(),
                    "project": str(state_dir.parent),
                    "started_at": started,
                    "uptime_s": time.time() - started,
                    "idle_timeout_s": 0,
                    "sessions": {"live": live, "total": live},
                    "tasks": {"queued": 0, "running": running},
                    "clients": [],
                }
            )
            data = json.dumps(body).encode()
            conn.sendall(
                b"HTTP/1.1 %d OK\r\nAegis-Protocol: 1\r\nAegis-Version: %s\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n"
                b"Connection: close\r\n\r\n%s"
                % (202 if stop else 200, version.encode(), len(data), data)
            )
        if stop:
            server.close()
            path.unlink(missing_ok=True)
            return  # the lock goes with the process


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
