"""``python -m aegis.testing.fakemodel``: serve the fake model until interrupted.

Unscripted, it answers ``echo: <message>`` and reports tool results; enough to try a
provider by hand (``aegis ask``) without a model API.
"""

from __future__ import annotations

import argparse
import contextlib
import threading

from aegis.testing.fakemodel.server import FakeModelServer


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m aegis.testing.fakemodel",
        description="Serve aegis's fake model (Anthropic, Gemini and OpenAI-compatible "
        "APIs) on 127.0.0.1; it echoes what it is told.",
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: any free one)")
    args = parser.parse_args()
    with FakeModelServer(port=args.port) as server:
        print(f"fake model serving at {server.url} (OpenAI-compatible: {server.url}/v1)")
        print("Ctrl-C to stop", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
