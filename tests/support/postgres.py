"""A real PostgreSQL server for the tests: ``initdb`` + ``pg_ctl`` in a folder of its own.

The binaries come from Debian's ``postgresql`` package, which ``make test`` installs
(``make system-packages``). The server listens on 127.0.0.1 at a free port and on a unix
socket in its folder, with password authentication over TCP, so that the tests
connect as a remote host would (the password from an environment variable).

PostgreSQL refuses to run as root: as root (CI), the server runs as the
``postgres`` user the package creates, in a folder that user owns.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

USER = "aegis"
PASSWORD = "aegis-test-password"
PASSWORD_ENV = "AEGIS_TEST_PG_PASSWORD"


def bin_dir() -> Path:
    """The folder of ``initdb`` and ``pg_ctl`` (Debian keeps them off the PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError(
            "PostgreSQL's server programs are not installed: run `make system-packages` "
            "(apt-get install postgresql), which `make test` does"
        )
    return Path(initdb).resolve().parent


def _version(path: str) -> int:
    part = Path(path).parent.parent.name
    return int(part) if part.isdigit() else 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresServer:
    """One throw-away cluster; :meth:`start`, :meth:`stop`, :meth:`restart`."""

    def __init__(self) -> None:
        self.bin = bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="aegis-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            import pwd

            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        self.root.chmod(0o755)

    def _run(self, *argv: str, timeout: float = 120) -> None:
        subprocess.run(
            [str(self.bin / argv[0]), *argv[1:]],
            check=True,
            capture_output=True,
            timeout=timeout,
            cwd=self.root,
            **self._as,
        )

    def init(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self._as:
            os.chown(pwfile, self._as["user"], self._as["group"])
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-sync",
            "-E",
            "UTF8",
        )
        pwfile.unlink()

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port}"
            f" -c unix_socket_directories={self.root} -c fsync=off -c max_connections=200"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def url(self, dbname: str = "postgres") -> str:
        """A URL without the password (it is in :data:`PASSWORD_ENV`), over TCP."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{dbname}"

    def admin(self, statement: str) -> None:
        """Run one statement as the superuser (over the unix socket, no password)."""
        import psycopg

        with psycopg.connect(
            host=str(self.root), port=self.port, user=USER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(statement.encode())

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        name = f"t{time.monotonic_ns()}"
        self.admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running_server() -> Iterator[PostgresServer]:
    """A started server, stopped and removed afterwards whatever happens."""
    server = PostgresServer()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.remove()
