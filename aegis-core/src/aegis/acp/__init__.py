"""The Agent Client Protocol (ACP v1), once, for every provider whose CLI speaks it.

* :mod:`aegis.acp.jsonrpc` — JSON-RPC 2.0 over newline-delimited stdio, both ways.
* :mod:`aegis.acp.client` — the client side: requests, permissions, file access.
* :mod:`aegis.acp.translate` — ``session/update`` notifications → canonical events.
* :mod:`aegis.acp.driver` — :class:`AcpDriver`, the base of an ACP provider's driver.
"""

from __future__ import annotations

from aegis.acp.client import AcpClient, acp_mcp_servers, permission_outcome
from aegis.acp.driver import AcpDriver
from aegis.acp.jsonrpc import ConnectionClosed, JsonRpcConnection, JsonRpcError
from aegis.acp.translate import AcpSessionState, HistoryEntry, UpdateTranslator

__all__ = [
    "AcpClient",
    "AcpDriver",
    "AcpSessionState",
    "ConnectionClosed",
    "HistoryEntry",
    "JsonRpcConnection",
    "JsonRpcError",
    "UpdateTranslator",
    "acp_mcp_servers",
    "permission_outcome",
]
