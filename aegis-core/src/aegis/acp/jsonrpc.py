"""JSON-RPC 2.0 over newline-delimited JSON, both directions, on anyio.

One :class:`JsonRpcConnection` is one peer's end of a line-oriented byte stream
(a child's stdio, or a pair of memory streams in tests). Either side may send
requests and notifications, so the same class serves the ACP client in aegis and
an ACP agent such as the built-in scripted one::

    async def on_request(method: str, params: Any) -> Any:
        if method == "ping":
            return {}
        raise JsonRpcError.method_not_found(method)

    connection = JsonRpcConnection(write, on_request=on_request)
    async with anyio.create_task_group() as tg:
        tg.start_soon(connection.serve, lines)     # reads until end of input
        result = await connection.request("initialize", {...})

Incoming requests are answered in tasks of their own (an answer may take long, and
the other side may ask something meanwhile); notifications are handled in the
order they arrive, by the reading task itself, so a handler must be quick.

When the input ends (the peer exited) every pending :meth:`~JsonRpcConnection.request`
fails at once with :class:`ConnectionClosed`: nobody waits for an answer that can
no longer come. Lines that are not JSON or not UTF-8 are skipped and noted in the
diagnostics, since CLIs print banners and warnings on stdout too.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import TaskGroup

from aegis.errors import DriverError
from aegis.process import Diagnostics
from aegis.text import UnreadableJson, clean_text, parse_json

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

RequestHandler = Callable[[str, Any], Awaitable[Any]]
"""Answers a request: ``(method, params) -> result``; raises :class:`JsonRpcError` to refuse."""

NotificationHandler = Callable[[str, Any], Awaitable[None]]
"""Takes a notification: ``(method, params)``."""

Writer = Callable[[bytes], Awaitable[None]]
"""Writes bytes to the peer (one complete line per call)."""

_PREVIEW = 200
_CHUNK = 1 << 16
_SEND_FAILURES = (
    OSError,
    DriverError,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
)


class JsonRpcError(Exception):
    """A JSON-RPC error: received as the answer to a request, or raised by a handler."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    @classmethod
    def method_not_found(cls, method: str) -> JsonRpcError:
        """The answer to a request for a method this side does not offer."""
        return cls(METHOD_NOT_FOUND, f"Method not found: {method}")

    @classmethod
    def invalid_params(cls, message: str) -> JsonRpcError:
        """The answer to a request whose parameters cannot be accepted."""
        return cls(INVALID_PARAMS, message)

    def to_dict(self) -> dict[str, Any]:
        """The ``error`` member of a response."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error

    def __str__(self) -> str:
        text = f"{self.message} (code {self.code})"
        if self.data is not None:
            text += f": {json.dumps(self.data, ensure_ascii=False)[:_PREVIEW]}"
        return text


class ConnectionClosed(Exception):
    """The peer went away (or the connection was closed) before the answer came."""


@dataclass
class _Pending:
    method: str
    done: anyio.Event
    result: Any = None
    error: Exception | None = None


class JsonRpcConnection:
    """One end of a JSON-RPC 2.0 conversation over newline-delimited JSON."""

    def __init__(
        self,
        write: Writer,
        *,
        on_request: RequestHandler | None = None,
        on_notification: NotificationHandler | None = None,
        diagnostics: Diagnostics | None = None,
        name: str = "peer",
    ) -> None:
        self._write = write
        self._on_request = on_request
        self._on_notification = on_notification
        self.diagnostics = diagnostics if diagnostics is not None else Diagnostics()
        self.name = name
        self._next_id = 0
        self._pending: dict[int | str, _Pending] = {}
        self._write_lock = anyio.Lock()
        self._closed_reason: str | None = None
        self._closed = anyio.Event()

    # --- state --------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once the input ended or :meth:`close` was called."""
        return self._closed_reason is not None

    @property
    def close_reason(self) -> str | None:
        """Why the connection closed, once it has."""
        return self._closed_reason

    async def wait_closed(self) -> None:
        """Wait until the connection is closed."""
        await self._closed.wait()

    def close(self, reason: str = "the connection was closed") -> None:
        """Close: every pending request fails with :class:`ConnectionClosed` (``reason``)."""
        if self._closed_reason is None:
            self._closed_reason = reason
            self._closed.set()
        pending, self._pending = self._pending, {}
        for slot in pending.values():
            slot.error = ConnectionClosed(reason)
            slot.done.set()

    # --- sending ------------------------------------------------------------------------

    async def request(self, method: str, params: Any = None) -> Any:
        """Send a request and return its result.

        Raises :class:`JsonRpcError` when the peer answers with an error, and
        :class:`ConnectionClosed` when the connection closes first. If the caller is
        cancelled, the answer is ignored when it comes.
        """
        if self._closed_reason is not None:
            raise ConnectionClosed(self._closed_reason)
        self._next_id += 1
        request_id = self._next_id
        slot = _Pending(method, anyio.Event())
        self._pending[request_id] = slot
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        try:
            await self._send(message)
            await slot.done.wait()
        finally:
            self._pending.pop(request_id, None)
        if slot.error is not None:
            raise slot.error
        return slot.result

    async def notify(self, method: str, params: Any = None) -> None:
        """Send a notification (no answer comes). Raises :class:`ConnectionClosed`."""
        if self._closed_reason is not None:
            raise ConnectionClosed(self._closed_reason)
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self._send(message)

    def _encode(self, message: dict[str, Any]) -> bytes:
        """One line for ``message``; raises :class:`JsonRpcError` for one that cannot be sent."""
        try:
            text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError, RecursionError) as exc:
            raise JsonRpcError(INTERNAL_ERROR, f"cannot encode the message: {exc}") from exc
        try:
            return text.encode() + b"\n"
        except UnicodeEncodeError:
            # A lone surrogate that got past the cleaning at the entry points: the
            # message still goes, with U+FFFD in its place.
            self._note(f"replaced unencodable characters in a {message.get('method', 'reply')}")
            return clean_text(text).encode() + b"\n"

    async def _send(self, message: dict[str, Any]) -> None:
        data = self._encode(message)
        try:
            # One message per write, whole: concurrent senders must not interleave lines.
            async with self._write_lock:
                await self._write(data)
        except _SEND_FAILURES as exc:
            reason = f"cannot write to the {self.name}: {exc}"
            self.close(reason)
            raise ConnectionClosed(reason) from exc

    # --- receiving ----------------------------------------------------------------------

    async def serve(self, lines: AsyncIterable[bytes]) -> None:
        """Read and dispatch ``lines`` until they end, then close the connection.

        Requests from the peer are answered in tasks owned by this call; they are
        cancelled when the input ends, since their answers could not be delivered.
        """
        reason = f"the {self.name} closed the connection"
        try:
            async with anyio.create_task_group() as tg:
                async for line in lines:
                    await self._receive(line, tg)
                tg.cancel_scope.cancel()
        finally:
            self.close(reason)

    async def _receive(self, line: bytes, tg: TaskGroup) -> None:
        if not line.strip():
            return
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._note(f"skipped a line that is not UTF-8 ({len(line)} bytes: {exc.reason})")
            return
        try:
            message = parse_json(text)
        except UnreadableJson as exc:
            self._note(f"skipped a line that is {exc}: {clean_text(text[:_PREVIEW])!r}")
            return
        # ACP never batches, but JSON-RPC allows it: take a batch's members one by one.
        for item in message if isinstance(message, list) else [message]:
            await self._dispatch(item, tg)

    async def _dispatch(self, message: Any, tg: TaskGroup) -> None:
        if not isinstance(message, dict):
            self._note(f"skipped a JSON value that is not a message: {str(message)[:_PREVIEW]}")
            return
        method = message.get("method")
        has_id = "id" in message
        if isinstance(method, str):
            params = message.get("params")
            if has_id:
                tg.start_soon(self._answer, message["id"], method, params)
            else:
                await self._notified(method, params)
        elif has_id and ("result" in message or "error" in message):
            self._resolve(message)
        elif has_id:
            await self._reply_error(
                message["id"], JsonRpcError(INVALID_REQUEST, "Invalid Request: no method")
            )
        else:
            self._note(f"skipped a message that is neither request nor response: {message!r:.200}")

    def _resolve(self, message: dict[str, Any]) -> None:
        slot = self._pending.get(message["id"])
        if slot is None:
            # The caller stopped waiting (cancelled), or the peer answered twice.
            self._note(f"ignored an answer to unknown request id {message['id']!r}")
            return
        error = message.get("error")
        if error is not None:
            if isinstance(error, dict):
                code = error.get("code")
                slot.error = JsonRpcError(
                    code if isinstance(code, int) else INTERNAL_ERROR,
                    str(error.get("message", "")),
                    error.get("data"),
                )
            else:
                slot.error = JsonRpcError(INTERNAL_ERROR, str(error))
        else:
            slot.result = message.get("result")
        slot.done.set()

    async def _notified(self, method: str, params: Any) -> None:
        if self._on_notification is None:
            return
        try:
            await self._on_notification(method, params)
        except Exception as exc:
            # One bad notification must not stop the conversation.
            self._note(f"handling notification {method} failed: {exc!r}")

    async def _answer(self, request_id: Any, method: str, params: Any) -> None:
        try:
            if self._on_request is None:
                raise JsonRpcError.method_not_found(method)
            result = await self._on_request(method, params)
        except JsonRpcError as error:
            await self._reply_error(request_id, error)
            return
        except Exception as exc:
            self._note(f"handling request {method} failed: {exc!r}")
            await self._reply_error(request_id, JsonRpcError(INTERNAL_ERROR, str(exc) or repr(exc)))
            return
        await self._reply({"jsonrpc": "2.0", "id": request_id, "result": result})

    async def _reply_error(self, request_id: Any, error: JsonRpcError) -> None:
        await self._reply({"jsonrpc": "2.0", "id": request_id, "error": error.to_dict()})

    async def _reply(self, message: dict[str, Any]) -> None:
        # A closed connection leaves nobody to read the answer.
        with contextlib.suppress(ConnectionClosed):
            try:
                await self._send(message)
            except JsonRpcError as error:
                # The answer cannot be written: the peer still gets one, saying so.
                self._note(f"an answer could not be sent: {error}")
                await self._send(
                    {"jsonrpc": "2.0", "id": message.get("id"), "error": error.to_dict()}
                )

    def _note(self, text: str) -> None:
        self.diagnostics.add(f"aegis: {self.name}: {text}")


async def read_lines(stream: anyio.abc.ByteReceiveStream) -> AsyncIterator[bytes]:
    """The newline-delimited lines of ``stream`` (without newlines), until it ends.

    For in-process pipes and tests; a child process's stdout is better read with
    :meth:`aegis.process.ManagedProcess.lines`, which also bounds a line's size.
    """
    buffer = bytearray()
    while True:
        try:
            chunk = await stream.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            break
        buffer += chunk
        while (end := buffer.find(b"\n")) >= 0:
            yield bytes(buffer[:end])
            del buffer[: end + 1]
    if buffer:
        yield bytes(buffer)


async def fd_lines(fd: int) -> AsyncIterator[bytes]:
    """The lines (without newlines) read from file descriptor ``fd`` until it ends.

    For an agent process reading its stdin (``fd_lines(0)``): the descriptor is made
    non-blocking and awaited with :func:`anyio.wait_readable`, so reading never holds
    the event loop or a thread, and stays cancellable.
    """
    os.set_blocking(fd, False)
    buffer = bytearray()
    while True:
        await anyio.wait_readable(fd)
        try:
            chunk = os.read(fd, _CHUNK)
        except BlockingIOError:
            continue
        if not chunk:
            break
        buffer += chunk
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            yield bytes(buffer[start:end])
            start = end + 1
        del buffer[:start]
    if buffer:
        yield bytes(buffer)


def fd_writer(fd: int) -> Writer:
    """A :data:`Writer` to file descriptor ``fd`` (an agent's stdout: ``fd_writer(1)``).

    Non-blocking like :func:`fd_lines`; a write waits while the pipe is full.
    """
    os.set_blocking(fd, False)

    async def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            await anyio.wait_writable(fd)
            try:
                written = os.write(fd, view)
            except BlockingIOError:
                continue
            view = view[written:]

    return write
