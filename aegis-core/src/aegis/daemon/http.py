"""A small HTTP/1.1 client over a Unix socket (h11 on anyio), for the daemon's client.

Why not a general HTTP client library: the one the environment offers takes about
half a second to import, and every ``aegis`` command that talks to the daemon would
pay it. The protocol needs little: one request per connection (``Connection:
close``), JSON bodies, and a response body read whole or streamed (Server-Sent
Events). h11 does the parsing; nothing here is specific to aegis. The connections
come from :mod:`aegis.daemon.unixstream`.
"""

from __future__ import annotations

import errno
import json
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import h11
from anyio.abc import ByteStream

from aegis.daemon.unixpath import reachable
from aegis.daemon.unixstream import connect_unix

CHUNK = 65536


class NotListening(ConnectionError):
    """Nothing listens on the socket: the file is missing (``missing``) or stale."""

    def __init__(self, path: Path, *, missing: bool) -> None:
        what = "no socket" if missing else "nothing listens on the socket"
        super().__init__(f"{what} at {path}")
        self.path = path
        self.missing = missing


@dataclass
class Head:
    """A response's status line and headers (names in lower case)."""

    status: int
    headers: dict[str, str]


@dataclass
class Reply:
    """A whole response."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON (``None`` when empty)."""
        return json.loads(self.body) if self.body else None


async def _connect(path: Path, timeout: float) -> ByteStream:
    try:
        with anyio.fail_after(timeout), reachable(path) as address:
            return await connect_unix(address)
    except OSError as exc:
        _raise_not_listening(path, exc)
        raise


def _raise_not_listening(path: Path, error: OSError) -> None:
    """Raise :class:`NotListening` when connecting failed with ``error`` because nothing
    listens at ``path``."""
    if error.errno in (errno.ECONNREFUSED, errno.ENOENT, errno.ENOTSOCK, errno.ENOTDIR):
        # ENOTDIR: `.aegis` is a file; there is no socket (starting a daemon says why).
        missing = error.errno in (errno.ENOENT, errno.ENOTDIR)
        raise NotListening(path, missing=missing) from None


class Exchange:
    """One request and its response on one connection (``host``: its ``Host`` header).

    The HTTP itself (h11's state: what to send, what was received) is in
    :meth:`request_bytes` and :meth:`feed`, free of I/O, so that :func:`request_blocking`
    shares it.
    """

    def __init__(self, stream: ByteStream | None, host: str = "aegis") -> None:
        self.stream = stream
        self.host = host
        self.conn = h11.Connection(h11.CLIENT)

    def request_bytes(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes | None
    ) -> bytes:
        """The whole request, to be sent in one write: a server that answers before
        reading the body (an unknown id) and closes must not break a second write."""
        fields = [("Host", self.host), ("Connection", "close"), *headers.items()]
        if body is not None:
            fields += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        data = self.conn.send(h11.Request(method=method, target=target, headers=fields)) or b""
        if body:
            data += self.conn.send(h11.Data(data=body)) or b""
        data += self.conn.send(h11.EndOfMessage()) or b""
        return data

    def feed(self, data: bytes | None) -> Any:
        """Take ``data`` received (``b""``: the connection closed; ``None``: nothing new) and
        return the next event of the response, or ``h11.NEED_DATA``."""
        if data is not None:
            self.conn.receive_data(data)
        try:
            return self.conn.next_event()
        except h11.RemoteProtocolError as exc:
            # Closed before a whole answer (a daemon that died as it started): a broken
            # connection, for the caller to handle as one, not a parsing failure.
            raise ConnectionError(f"the connection broke: {exc}") from None

    async def send_request(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes | None
    ) -> None:
        assert self.stream is not None
        try:
            await self.stream.send(self.request_bytes(method, target, headers, body))
        except anyio.BrokenResourceError as exc:
            # Closed before the request was taken (a daemon that exited as it started):
            # a broken connection, as when it closes before a whole answer.
            raise ConnectionError(f"the connection broke: {exc.__cause__ or exc}") from None

    async def _next(self) -> Any:
        assert self.stream is not None
        event = self.feed(None)
        while event is h11.NEED_DATA:
            try:
                data = await self.stream.receive(CHUNK)
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                data = b""
            event = self.feed(data)
        return event

    async def head(self) -> Head:
        return _head(await self._next())

    async def body(self) -> AsyncIterator[bytes]:
        while True:
            event = await self._next()
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return


def _head(event: Any) -> Head:
    if not isinstance(event, h11.Response):
        raise ConnectionError(f"unexpected reply from the daemon: {event!r}")
    headers = {name.decode().lower(): value.decode() for name, value in event.headers}
    return Head(event.status_code, headers)


def _encode(data: Any) -> bytes | None:
    return None if data is None else json.dumps(data).encode()


async def request(
    path: Path,
    method: str,
    target: str,
    *,
    data: Any = None,
    headers: Mapping[str, str] = {},
    connect_timeout: float = 5.0,
    timeout: float = 60.0,
) -> Reply:
    """Send one request to the server on socket ``path``; return the whole response.

    Raises :class:`NotListening`, or ``TimeoutError`` after ``timeout`` seconds.
    """
    stream = await _connect(path, connect_timeout)
    async with stream:
        with anyio.fail_after(timeout):
            exchange = Exchange(stream)
            await exchange.send_request(method, target, headers, _encode(data))
            head = await exchange.head()
            body = b"".join([chunk async for chunk in exchange.body()])
    return Reply(head.status, head.headers, body)


def request_blocking(
    path: Path,
    method: str,
    target: str,
    *,
    data: Any = None,
    headers: Mapping[str, str] = {},
    timeout: float = 60.0,
) -> Reply:
    """:func:`request` for a command that has no event loop running yet, blocking.

    A command whose first request starts work in the daemon (``aegis workflow run``)
    sends it this way, before it imports and starts an event loop (about 30 ms): the
    daemon starts the work that much earlier. Raises what :func:`request` raises.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)  # TimeoutError on connecting, sending and receiving
        try:
            with reachable(path) as address:
                sock.connect(address)
        except OSError as exc:
            _raise_not_listening(path, exc)
            raise
        exchange = Exchange(None)
        sock.sendall(exchange.request_bytes(method, target, headers, _encode(data)))
        body: list[bytes] = []
        head: Head | None = None
        while True:
            event = exchange.feed(None)
            while event is h11.NEED_DATA:
                try:
                    received = sock.recv(CHUNK)
                except ConnectionResetError:
                    received = b""
                event = exchange.feed(received)
            if head is None:
                head = _head(event)
            elif isinstance(event, h11.Data):
                body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return Reply(head.status, head.headers, b"".join(body))


@asynccontextmanager
async def stream(
    path: Path,
    method: str,
    target: str,
    *,
    headers: Mapping[str, str] = {},
    connect_timeout: float = 5.0,
    head_timeout: float = 60.0,
) -> AsyncIterator[tuple[Head, AsyncIterator[bytes]]]:
    """Send one request; yield its head and an iterator over its body as it comes."""
    connection = await _connect(path, connect_timeout)
    async with connection:
        exchange = Exchange(connection)
        with anyio.fail_after(head_timeout):
            await exchange.send_request(method, target, headers, None)
            head = await exchange.head()
        yield head, exchange.body()


async def server_sent_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[str, str, str]]:
    """``(event, id, data)`` for each Server-Sent Event in a body (``event`` defaults to
    ``message``; comment lines are skipped)."""
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            event, ident, data = "message", "", []
            for line in block.decode().split("\n"):
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "event":
                    event = value
                elif name == "id":
                    ident = value
                elif name == "data":
                    data.append(value)
            if data:
                yield event, ident, "\n".join(data)
