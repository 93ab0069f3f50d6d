"""``FakeModelServer``: a local HTTP server that answers model requests from a ``Script``."""

from __future__ import annotations

import contextlib
import json
import logging
import select
import socket
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from . import _anthropic, _gemini, _openai, sidecalls
from ._types import ModelRequest, Reply
from ._wire import Codec
from .script import Script

log = logging.getLogger(__name__)

# A client that goes away mid-stream (an interrupted turn) shows up as one of these.
_DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)

DEFAULT_MODELS = ("fake-model",)


@dataclass(frozen=True)
class LoggedRequest:
    """Every HTTP request the server saw, for debugging a test."""

    method: str
    path: str
    kind: str
    """``turn``, a side-call kind (``title``, ``router``, ``count_tokens``...), or ``other``."""
    body: Any
    at: float = field(default_factory=time.monotonic)


def _codec_for(path: str) -> tuple[Codec, str] | None:
    """Which API a POST path belongs to, and whether it is a generation or a count."""
    route = urlsplit(path).path
    if route.endswith("/messages/count_tokens"):
        return _anthropic.CODEC, "count_tokens"
    if route.endswith("/messages"):
        return _anthropic.CODEC, "generate"
    if route.endswith("/chat/completions"):
        return _openai.CODEC, "generate"
    if ":streamGenerateContent" in route or ":generateContent" in route:
        return _gemini.CODEC, "generate"
    if ":countTokens" in route:
        return _gemini.CODEC, "count_tokens"
    return None


class _Http(ThreadingHTTPServer):
    daemon_threads = True
    # Many CLIs in parallel may connect at once; the default backlog of 5 is too small.
    request_queue_size = 64
    owner: FakeModelServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The base class prints a traceback to stderr for any exception; disconnects are
        # normal here (interrupts, killed CLIs), everything else goes to logging.
        log.debug("error serving %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Http
    # HTTP/1.0: each response closes its connection, so no body needs a length up front
    # and a stream simply ends when we close. Every CLI here copes with that.
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        owner = self.server.owner
        try:
            if urlsplit(self.path).path.rstrip("/").endswith("/models"):
                owner._log(LoggedRequest("GET", self.path, "models", None))
                self._send_json(200, owner._listing(self.path))
            else:
                # Anything else (e.g. an npm registry lookup redirected here) is logged so
                # a test can assert that the CLI tried no other network access.
                owner._log(LoggedRequest("GET", self.path, "other", None))
                self._send_json(404, {"error": {"message": f"fake model: no route {self.path}"}})
        except _DISCONNECTS:
            pass

    def do_POST(self) -> None:
        try:
            self._post()
        except _DISCONNECTS:
            self.server.owner._note_disconnect(self.path)
        except Exception:
            # Most likely a script's responder failed (e.g. shell_call found no shell tool).
            # Record it for the test to report, and answer 500 rather than hang up.
            self.server.owner._note_error(traceback.format_exc())
            with contextlib.suppress(*_DISCONNECTS):
                self._send_json(500, {"error": {"message": "fake model: script failed"}})

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                data += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return bytes(data)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _post(self) -> None:
        owner = self.server.owner
        raw = self._read_body()
        try:
            body: Any = json.loads(raw or b"{}")
        except ValueError:
            body = raw.decode(errors="replace")
        route = _codec_for(self.path)
        if route is None or not isinstance(body, dict):
            owner._log(LoggedRequest("POST", self.path, "other", body))
            self._send_json(404, {"error": {"message": f"fake model: no route {self.path}"}})
            return
        codec, action = route
        request = codec.parse(body, self.path)
        if action == "count_tokens":
            owner._log(LoggedRequest("POST", self.path, "count_tokens", body), request, side=True)
            tokens = max(1, len(raw) // 4)
            key = "input_tokens" if codec is _anthropic.CODEC else "totalTokens"
            self._send_json(200, {key: tokens})
            return
        kind = sidecalls.classify(request)
        reply = sidecalls.reply(kind, request) if kind else owner.script.reply_for(request)
        owner._log(
            LoggedRequest("POST", self.path, kind or "turn", body), request, side=kind is not None
        )
        self._answer(codec, request, reply)

    def _pause(self, seconds: float) -> None:
        """Sleep, but notice at once if the client hangs up meanwhile (an interrupt)."""
        if seconds <= 0:
            return
        # The request body has been read, so the socket only turns readable when the client
        # closes it; without this a disconnect would go unseen until the next write.
        deadline = time.monotonic() + seconds
        readable, _, _ = select.select([self.connection], [], [], seconds)
        if readable:
            if not self.connection.recv(1, socket.MSG_PEEK):
                raise ConnectionAbortedError("client closed the connection")
            # Unexpected bytes rather than a hang-up: just sleep out the rest.
            time.sleep(max(0.0, deadline - time.monotonic()))

    def _answer(self, codec: Codec, request: ModelRequest, reply: Reply) -> None:
        self._pause(reply.delay)
        if reply.error_status is not None:
            self._send_json(
                reply.error_status, codec.error_body(reply.error_status, reply.error_message)
            )
            return
        if not request.stream:
            self._send_json(200, codec.complete(reply, request))
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for number, event in enumerate(codec.stream(reply, request)):
            if number:
                self._pause(reply.chunk_delay)
            self.wfile.write(event)
            self.wfile.flush()

    def _send_json(self, status: int, body: Mapping[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", f"req_fake_{time.monotonic_ns()}")
        self.end_headers()
        self.wfile.write(data)


class FakeModelServer:
    """A scripted model endpoint on ``127.0.0.1``, serving in a daemon thread.

    Use as a context manager::

        with FakeModelServer(Script().on("hi", "hello")) as server:
            env = {"ANTHROPIC_BASE_URL": server.url, ...}
    """

    def __init__(
        self,
        script: Script | None = None,
        *,
        models: tuple[str, ...] = DEFAULT_MODELS,
        port: int = 0,
    ):
        self._script = script or Script()
        self.models = models
        self._cond = threading.Condition()
        self._requests: list[ModelRequest] = []
        self._side: list[ModelRequest] = []
        self._log_entries: list[LoggedRequest] = []
        self._disconnects: list[str] = []
        self._errors: list[str] = []
        self._http = _Http(("127.0.0.1", port), _Handler)
        self._http.owner = self
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeModelServer:
        """Start serving (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._http.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"fakemodel:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._http.server_close()

    def __enter__(self) -> FakeModelServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what tests use ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return int(self._http.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash, no ``/v1``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def script(self) -> Script:
        """The script answering real turns; assign a new one at any time."""
        with self._cond:
            return self._script

    @script.setter
    def script(self, script: Script) -> None:
        with self._cond:
            self._script = script

    @property
    def requests(self) -> list[ModelRequest]:
        """A snapshot of the real turns received, oldest first."""
        with self._cond:
            return list(self._requests)

    @property
    def side_requests(self) -> list[ModelRequest]:
        """A snapshot of the side calls (titles, routers, token counts) received."""
        with self._cond:
            return list(self._side)

    @property
    def log(self) -> list[LoggedRequest]:
        """Every HTTP request seen, including unknown routes."""
        with self._cond:
            return list(self._log_entries)

    @property
    def disconnects(self) -> list[str]:
        """Paths of requests whose client went away before the reply was complete."""
        with self._cond:
            return list(self._disconnects)

    @property
    def errors(self) -> list[str]:
        """Tracebacks of exceptions raised while answering (usually a failing responder)."""
        with self._cond:
            return list(self._errors)

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[ModelRequest]:
        """Block until at least ``count`` real turns arrived; raise ``TimeoutError`` if not."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._requests) >= count, timeout):
                raise TimeoutError(
                    f"expected {count} model requests within {timeout}s, "
                    f"got {len(self._requests)}: {[r.user_text for r in self._requests]}"
                )
            return list(self._requests)

    def wait_for_disconnects(self, count: int = 1, timeout: float = 10.0) -> list[str]:
        """Block until ``count`` replies were cut short by their client (e.g. an interrupt)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._disconnects) >= count, timeout):
                raise TimeoutError(
                    f"expected {count} client disconnects within {timeout}s, "
                    f"got {len(self._disconnects)}"
                )
            return list(self._disconnects)

    def clear(self) -> None:
        """Forget recorded requests (the script is kept)."""
        with self._cond:
            self._requests.clear()
            self._side.clear()
            self._log_entries.clear()
            self._disconnects.clear()
            self._errors.clear()

    # -- called by the handler ---------------------------------------------------------------

    def _log(
        self, entry: LoggedRequest, request: ModelRequest | None = None, *, side: bool = False
    ) -> None:
        log.debug("fake model: %s %s (%s)", entry.method, entry.path, entry.kind)
        with self._cond:
            self._log_entries.append(entry)
            if request is not None:
                (self._side if side else self._requests).append(request)
            self._cond.notify_all()

    def _note_disconnect(self, path: str) -> None:
        with self._cond:
            self._disconnects.append(path)
            self._cond.notify_all()

    def _note_error(self, text: str) -> None:
        log.error("fake model failed to answer: %s", text)
        with self._cond:
            self._errors.append(text)
            self._cond.notify_all()

    def _listing(self, path: str) -> dict[str, Any]:
        route = urlsplit(path).path
        if "/v1beta/models" in route:
            return {
                "models": [
                    {
                        "name": f"models/{m}",
                        "displayName": m,
                        "inputTokenLimit": 1_000_000,
                        "outputTokenLimit": 65_536,
                        "supportedGenerationMethods": ["generateContent", "streamGenerateContent"],
                    }
                    for m in self.models
                ]
            }
        # One shape that satisfies both the OpenAI and the Anthropic model listings.
        data = [
            {
                "id": m,
                "object": "model",
                "type": "model",
                "display_name": m,
                "created": 0,
                "created_at": "2025-01-01T00:00:00Z",
                "owned_by": "fake",
            }
            for m in self.models
        ]
        return {
            "object": "list",
            "data": data,
            "has_more": False,
            "first_id": self.models[0] if self.models else None,
            "last_id": self.models[-1] if self.models else None,
        }
