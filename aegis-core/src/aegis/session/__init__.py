"""The session layer: the session manager that workflows, queues, the MCP plane and frontends use.

:class:`SessionManager` spawns sessions of agent profiles, delivers messages
through a per-session inbox, and keeps every session's canonical events in a
JSONL transcript under the project's ``.aegis/``.
"""

from aegis.session.info import SessionInfo, SessionState
from aegis.session.manager import SessionManager, UnknownSession

__all__ = ["SessionInfo", "SessionManager", "SessionState", "UnknownSession"]
