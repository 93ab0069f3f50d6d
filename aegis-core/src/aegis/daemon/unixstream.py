"""A connection to a Unix socket as an anyio byte stream, on asyncio's own transports.

On asyncio, anyio's ``connect_unix`` (anyio 4.16) gives a stream that waits for data
on the raw socket through a future which a reader callback resolves. When the task
waiting on it is cancelled in the same turn of the event loop as data arrives (a
client stops following the daemon's events while the daemon sends one), the callback
resolves a future already cancelled: asyncio reports ``InvalidStateError: invalid
state`` from the loop, which a command prints on its terminal and a test counts as a
failure. asyncio's transports guard against that, so on asyncio the daemon's client
connects through them; on another event loop (trio), anyio's stream is used.
"""

from __future__ import annotations

import asyncio
import contextlib

import anyio
from anyio.abc import ByteStream


async def connect_unix(address: str) -> ByteStream:
    """A stream connected to the Unix socket at ``address``; ``OSError`` if that fails."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # not on asyncio
        return await anyio.connect_unix(address)
    reader, writer = await asyncio.open_unix_connection(address)
    return TransportStream(reader, writer)


class TransportStream(ByteStream):
    """An asyncio stream pair as an anyio :class:`~anyio.abc.ByteStream`, raising what
    anyio's streams raise: ``EndOfStream`` at the end, ``BrokenResourceError`` when
    the connection broke."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def receive(self, max_bytes: int = 65536) -> bytes:
        try:
            data = await self._reader.read(max_bytes)
        except OSError as exc:
            raise anyio.BrokenResourceError from exc
        if not data:
            raise anyio.EndOfStream
        return data

    async def send(self, item: bytes) -> None:
        try:
            self._writer.write(item)
            await self._writer.drain()
        except OSError as exc:
            raise anyio.BrokenResourceError from exc

    async def send_eof(self) -> None:
        self._writer.write_eof()

    async def aclose(self) -> None:
        self._writer.close()
        # Closing takes one turn of the loop; it is waited for even when the caller is
        # cancelled, so that no socket is left open behind a closed stream.
        with anyio.CancelScope(shield=True), contextlib.suppress(OSError):
            await self._writer.wait_closed()
