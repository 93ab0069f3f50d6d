"""Approvals: a person in the loop of a session's permission requests.

:class:`PermissionGate` decides each request of one session (the profile's rules, a
person, the permission level); :class:`ApprovalRegistry` holds the requests waiting
for a person (``Runtime.approvals``). See ``docs/approvals.md``.
"""

from aegis.approvals.gate import Asker, PermissionGate, ToolPermission, Verdict
from aegis.approvals.registry import (
    DECISIONS,
    ApprovalRegistry,
    BadDecision,
    PendingApproval,
    UnknownApproval,
)

__all__ = [
    "DECISIONS",
    "ApprovalRegistry",
    "Asker",
    "BadDecision",
    "PendingApproval",
    "PermissionGate",
    "ToolPermission",
    "UnknownApproval",
    "Verdict",
]
