"""Shared terminals: named shells in real pseudo-terminals that agents and people use together.

The runtime owns a :class:`TerminalRegistry` (``runtime.terminals``); with the
daemon, terminals outlive the frontends that look at them::

    terminal = await runtime.terminals.spawn("server", by="user")
    result = await terminal.run("pytest -q", by="user", timeout=120)
    result.exit, result.output

Every command is recorded in the terminal's ledger (``.aegis/terminals/<name>.jsonl``)
with who ran it, when, its exit status and its output (head and tail). See
``docs/terminals.md``.
"""

from aegis.terminals.ledger import CommandRecord, read_ledger
from aegis.terminals.registry import TerminalInfo, TerminalRegistry
from aegis.terminals.terminal import (
    RunResult,
    Terminal,
    TerminalBusy,
    TerminalError,
    UnknownTerminal,
    key_bytes,
)

__all__ = [
    "CommandRecord",
    "RunResult",
    "Terminal",
    "TerminalBusy",
    "TerminalError",
    "TerminalInfo",
    "TerminalRegistry",
    "UnknownTerminal",
    "key_bytes",
    "read_ledger",
]
