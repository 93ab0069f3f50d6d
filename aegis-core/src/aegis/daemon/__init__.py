"""The aegis daemon: the project's runtime behind a Unix socket, and its client.

One daemon runs per project. It owns the project's sessions, queues and their
dispatch, the inbox router, workflow runs and the MCP plane (today an
:class:`aegis.runtime.Runtime`), and serves the client protocol described in
``docs/protocol.md`` on ``.aegis/daemon.sock``. Frontends are clients: they attach,
watch a session's events from a sequence number, send messages, and detach.

The modules, from the bottom up:

* :mod:`aegis.daemon.protocol` — the protocol's version, paths and names (shared by
  both sides, imports nothing heavy);
* :mod:`aegis.daemon.lock` — one daemon per project (``flock`` on ``daemon.lock``);
* :mod:`aegis.daemon.feed` — every session's events, numbered, replayed then live;
* :mod:`aegis.daemon.routes` — the HTTP API over the runtime;
* :mod:`aegis.daemon.service` — the daemon's life: lock, socket, runtime, idle exit;
* :mod:`aegis.daemon.http` — a small HTTP/1.1 client over a Unix socket;
* :mod:`aegis.daemon.client` — the typed async client the commands use;
* :mod:`aegis.daemon.launch` — starting a daemon in the background, and waiting for it.
"""
