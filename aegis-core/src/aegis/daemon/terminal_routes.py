"""The protocol's routes for shared terminals and canvases (``/v1/terminals``, ``/v1/canvases``).

A client acts as the person using it: commands it runs, keys it types and sections
it writes are recorded as ``user``. A terminal's output is an event stream whose
records carry the bytes in base64 (``data``): the first (``replay: true``) the output
kept so far, to draw the screen from; the stream ends when the shell exits.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aegis.daemon.routes import (
    ApiError,
    EventStream,
    _body,
    _client,
    _endpoint,
    _ok,
    _text,
)

if TYPE_CHECKING:
    from aegis.daemon.service import Daemon
    from aegis.terminals import Terminal

PERSON = "user"
MAX_RUN_TIMEOUT_S = 3600.0


def api_error(error: Exception) -> ApiError | None:
    """The protocol's error for a terminal's or canvas's exception, if it is one."""
    from aegis.canvas import CanvasError, UnknownCanvas
    from aegis.terminals import TerminalBusy, TerminalError, UnknownTerminal

    if isinstance(error, UnknownTerminal):
        return ApiError(404, "unknown_terminal", str(error), "`aegis term list` lists them")
    if isinstance(error, TerminalBusy):
        return ApiError(409, "terminal_busy", str(error))
    if isinstance(error, TerminalError):
        return ApiError(409, "terminal", str(error))
    if isinstance(error, UnknownCanvas):
        return ApiError(404, "unknown_canvas", str(error), "`aegis canvas list` lists them")
    if isinstance(error, CanvasError):
        return ApiError(409, "canvas", str(error))
    return None


def _daemon(request: Request) -> Daemon:
    daemon: Daemon = request.app.state.daemon
    return daemon


def _terminal(request: Request) -> Terminal:
    terminal: Terminal = _daemon(request).runtime.terminals.get(request.path_params["name"])
    return terminal


def _int(value: Any, name: str, default: int) -> int:
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, "bad_request", f"{name}={value!r} is not a number") from None


def terminal_view(info: Any) -> dict[str, Any]:
    """A terminal as the protocol shows it."""
    from dataclasses import asdict

    return asdict(info)


# --- terminals ---------------------------------------------------------------------------


async def list_terminals(request: Request) -> Response:
    terminals = _daemon(request).runtime.terminals
    return _ok({"terminals": [terminal_view(info) for info in terminals.list()]})


async def spawn_terminal(request: Request) -> Response:
    from aegis.terminals.registry import DEFAULT_COLS, DEFAULT_ROWS, info

    data = await _body(request)
    terminal = await _daemon(request).runtime.terminals.spawn(
        _text(data, "name"),
        by=PERSON,
        shell=data.get("shell") or None,
        rows=_int(data.get("rows"), "rows", DEFAULT_ROWS),
        cols=_int(data.get("cols"), "cols", DEFAULT_COLS),
    )
    return _ok(terminal_view(info(terminal)), 201)


async def read_terminal(request: Request) -> Response:
    from aegis.terminals.registry import info

    terminal = _terminal(request)
    lines = _int(request.query_params.get("lines"), "lines", 40)
    since = request.query_params.get("since")
    commands = []
    if since is not None:
        commands = [r.to_dict() for r in await terminal.commands(_int(since, "since", 0))]
    view = terminal_view(info(terminal))
    return _ok({**view, "lines": terminal.lines(max(0, min(lines, 5000))), "commands": commands})


async def run_in_terminal(request: Request) -> Response:
    data = await _body(request)
    timeout = data.get("timeout", 60.0)
    if not isinstance(timeout, int | float) or timeout <= 0:
        raise ApiError(400, "bad_request", "timeout must be a positive number of seconds")
    result = await _terminal(request).run(
        _text(data, "command"), by=PERSON, timeout=min(float(timeout), MAX_RUN_TIMEOUT_S)
    )
    return _ok(
        {
            "seq": result.seq,
            "command": result.command,
            "status": result.status,
            "exit": result.exit,
            "output": result.output,
            "duration": result.duration,
        }
    )


async def type_into_terminal(request: Request) -> Response:
    data = await _body(request)
    terminal = _terminal(request)
    raw = data.get("data")
    if raw is not None:
        if not isinstance(raw, str):
            raise ApiError(400, "bad_request", "data must be base64 text")
        try:
            await terminal.write(base64.b64decode(raw, validate=True), PERSON)
        except ValueError:
            raise ApiError(400, "bad_request", "data is not base64") from None
    press = data.get("press") or []
    text = data.get("text") or ""
    if not isinstance(press, list) or not isinstance(text, str):
        raise ApiError(400, "bad_request", "text is a string and press a list of key names")
    await terminal.keys(text, [str(key) for key in press], by=PERSON)
    return _ok({"busy": terminal.busy})


async def resize_terminal(request: Request) -> Response:
    data = await _body(request)
    terminal = _terminal(request)
    terminal.resize(
        _int(data.get("rows"), "rows", terminal.rows), _int(data.get("cols"), "cols", terminal.cols)
    )
    return _ok({"rows": terminal.rows, "cols": terminal.cols})


async def close_terminal(request: Request) -> Response:
    name = request.path_params["name"]
    await _daemon(request).runtime.terminals.close(name)
    return _ok({"closed": name})


async def terminal_output(request: Request) -> Response:
    terminal = _terminal(request)
    daemon = _daemon(request)

    async def records() -> AsyncGenerator[dict[str, Any], None]:
        async with terminal.view() as (replay, stream):
            seq = 1
            yield {"seq": seq, "replay": True, "data": base64.b64encode(replay).decode()}
            async for chunk in stream:
                seq += 1
                yield {"seq": seq, "data": base64.b64encode(chunk).decode()}

    def end(stopping: bool) -> dict[str, Any]:
        if stopping:
            return {"reason": "daemon stopping"}
        return {"reason": "shell exited" if not terminal.alive else "viewer too slow"}

    return EventStream(daemon, _client(request), f"terminal:{terminal.name}", records(), end)


# --- canvases ----------------------------------------------------------------------------


def canvas_view(info: Any) -> dict[str, Any]:
    """A canvas as the protocol shows it."""
    from dataclasses import asdict

    return asdict(info)


async def list_canvases(request: Request) -> Response:
    infos = await _daemon(request).runtime.canvases.list()
    return _ok({"canvases": [canvas_view(info) for info in infos]})


async def open_canvas(request: Request) -> Response:
    data = await _body(request)
    info = await _daemon(request).runtime.canvases.open(
        _text(data, "name"), by=PERSON, path=data.get("path") or None
    )
    return _ok(canvas_view(info), 201)


async def read_canvas(request: Request) -> Response:
    name = request.path_params["name"]
    section = request.query_params.get("section")
    text = await _daemon(request).runtime.canvases.read(name, section)
    return _ok({"name": name, "section": section, "text": text})


async def write_canvas(request: Request) -> Response:
    name = request.path_params["name"]
    data = await _body(request)
    section = data.get("section")
    text = data.get("text")
    if not isinstance(section, str) or not isinstance(text, str):
        raise ApiError(400, "bad_request", "section and text must be strings")
    canvases = _daemon(request).runtime.canvases
    if data.get("append"):
        change = await canvases.append(name, section, text, by=PERSON)
    else:
        change = await canvases.write(name, section, text, by=PERSON)
    return _ok(change.to_dict())


def routes(prefix: str) -> list[Route]:
    """The routes of terminals and canvases under ``prefix`` (``/v1``)."""
    t = f"{prefix}/terminals"
    c = f"{prefix}/canvases"
    return [
        Route(t, _endpoint(list_terminals), methods=["GET"]),
        Route(t, _endpoint(spawn_terminal), methods=["POST"]),
        Route(f"{t}/{{name}}", _endpoint(read_terminal), methods=["GET"]),
        Route(f"{t}/{{name}}/run", _endpoint(run_in_terminal), methods=["POST"]),
        Route(f"{t}/{{name}}/input", _endpoint(type_into_terminal), methods=["POST"]),
        Route(f"{t}/{{name}}/resize", _endpoint(resize_terminal), methods=["POST"]),
        Route(f"{t}/{{name}}/close", _endpoint(close_terminal), methods=["POST"]),
        Route(f"{t}/{{name}}/output", _endpoint(terminal_output), methods=["GET"]),
        Route(c, _endpoint(list_canvases), methods=["GET"]),
        Route(c, _endpoint(open_canvas), methods=["POST"]),
        Route(f"{c}/{{name}}", _endpoint(read_canvas), methods=["GET"]),
        Route(f"{c}/{{name}}/sections", _endpoint(write_canvas), methods=["POST"]),
    ]
