"""A stand-in for ``claude -p --input-format stream-json`` that plays a scripted scenario.

The real CLI cannot be made to print a non-JSON line, invalid UTF-8, a 20 MB line, a
stray ``result`` between turns or to ignore an interrupt; this script can, so the
driver's robustness is tested here and its protocol against the real CLI elsewhere.

It reads the scenario (JSON) from the file named by ``FAKE_CLAUDE_SCENARIO``::

    {"init": "ok" | {"exit": 3, "stderr": "..."},
     "turns": [[step, ...], ...]}      # the steps played for the 1st, 2nd... user message

and appends every stdin message (and first its argv and environment) as a JSON line to
``FAKE_CLAUDE_LOG``. Steps:

``{"out": obj}``           print ``obj``; ``$UUID`` in it becomes the user message's uuid
``{"raw": text}``          print ``text`` encoded as latin-1 (so ``"\\u00ff"`` is byte 0xff)
``{"big": n}``             print a ``tool_result`` line whose output is ``n`` times ``x``
``{"sleep": s}``           wait ``s`` seconds
``{"await": "interrupt"}`` wait until an interrupt request came (each is acknowledged)
``{"ask": request}``       send a control request (``subtype`` and fields), wait for its answer
``{"spawn": argv}``        start ``argv`` in a session of its own (as claude's Bash tool
                           does) and log ``{"spawned": pid}``
``{"exit": code}``         exit now (after ``"stderr"`` text, if given)

Run it with the interpreter running the tests, through a wrapper script (a driver
takes one executable path).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from typing import Any

JSON = dict[str, Any]

_inbox: queue.Queue[JSON | None] = queue.Queue()
_interrupts = threading.Semaphore(0)
_out_lock = threading.Lock()


def _log(entry: JSON) -> None:
    with open(os.environ["FAKE_CLAUDE_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")


def _write(data: bytes) -> None:
    with _out_lock:
        sys.stdout.buffer.write(data + b"\n")
        sys.stdout.buffer.flush()


def _print(message: JSON, user_uuid: str = "") -> None:
    _write(json.dumps(message).replace("$UUID", user_uuid).encode())


def _read_stdin() -> None:
    # Interrupts are answered here at once, as claude does, whatever the script is doing.
    for line in sys.stdin:
        message = json.loads(line)
        _log(message)
        request = message.get("request") or {}
        if message.get("type") == "control_request" and request.get("subtype") == "interrupt":
            _print(
                {
                    "type": "control_response",
                    "response": {
                        "subtype": "success",
                        "request_id": message["request_id"],
                        "response": {"still_queued": []},
                    },
                }
            )
            _interrupts.release()
            continue
        _inbox.put(message)
    _inbox.put(None)


def _await_answer(request_id: str) -> None:
    while (message := _inbox.get()) is not None:
        response = message.get("response") or {}
        if message.get("type") == "control_response" and response.get("request_id") == request_id:
            return
    sys.exit(0)


def _play(steps: list[JSON], user_uuid: str) -> None:
    for number, step in enumerate(steps):
        if "out" in step:
            _print(step["out"], user_uuid)
        elif "raw" in step:
            _write(step["raw"].encode("latin-1"))
        elif "big" in step:
            _print(
                {
                    "type": "user",
                    "message": {
                        "role": "user",
                        "content": [
                            {
                                "type": "tool_result",
                                "tool_use_id": "big-1",
                                "content": "x" * step["big"],
                            }
                        ],
                    },
                }
            )
        elif "sleep" in step:
            time.sleep(step["sleep"])
        elif step.get("await") == "interrupt":
            _interrupts.acquire()
        elif "ask" in step:
            request_id = f"ask-{user_uuid}-{number}"
            _print({"type": "control_request", "request_id": request_id, "request": step["ask"]})
            _await_answer(request_id)
        elif "spawn" in step:
            child = subprocess.Popen(
                step["spawn"],
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
            _log({"spawned": child.pid})
        elif "exit" in step:
            sys.stderr.write(step.get("stderr", ""))
            sys.stderr.flush()
            os._exit(step["exit"])


def main() -> None:
    with open(os.environ["FAKE_CLAUDE_SCENARIO"], encoding="utf-8") as file:
        scenario = json.load(file)
    _log({"argv": sys.argv[1:], "env": dict(os.environ)})
    threading.Thread(target=_read_stdin, daemon=True).start()
    turns = iter(scenario.get("turns", []))
    while (message := _inbox.get()) is not None:
        request = message.get("request") or {}
        if message.get("type") == "control_request" and request.get("subtype") == "initialize":
            init = scenario.get("init", "ok")
            if isinstance(init, dict):
                _play([init], "")
            _print(
                {
                    "type": "control_response",
                    "response": {
                        "subtype": "success",
                        "request_id": message["request_id"],
                        "response": {
                            "models": [{"value": "default", "resolvedModel": "fake-opus"}]
                        },
                    },
                }
            )
        elif message.get("type") == "user":
            _play(next(turns, []), message.get("uuid", ""))


if __name__ == "__main__":
    main()
