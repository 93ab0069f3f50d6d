"""Bearer tokens of the MCP plane: one per session, in memory only.

A token is what tells the plane who is calling, so it is treated as a secret:

* it is made with :func:`secrets.token_urlsafe` (256 bits) for one session;
* only its SHA-256 digest is kept, so the store never holds a token to leak,
  and looking a token up compares digests, not the secret itself;
* it is never written anywhere by aegis: not to disk (a resumed session gets a
  fresh token, since the plane's port changes between runs anyway), not to a
  log, not to a transcript;
* it is revoked when its session closes, and all of them when the plane stops.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

TOKEN_BYTES = 32


@dataclass(frozen=True)
class Grant:
    """What a valid token stands for: one session of one profile."""

    handle: str
    profile: str


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class TokenStore:
    """The live tokens of one plane, by digest."""

    def __init__(self) -> None:
        self._grants: dict[bytes, Grant] = {}

    def issue(self, handle: str, profile: str) -> str:
        """A new token for session ``handle``; its earlier tokens are revoked.

        A handle has one live session at a time, so a new session of a handle
        (a resumed one) means every earlier token of that handle is stale.
        """
        self.revoke(handle)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        self._grants[_digest(token)] = Grant(handle, profile)
        return token

    def lookup(self, token: str) -> Grant | None:
        """The grant of ``token``, or ``None`` for an unknown or revoked one."""
        return self._grants.get(_digest(token))

    def revoke(self, handle: str) -> None:
        """Revoke every token of session ``handle``."""
        for key in [k for k, grant in self._grants.items() if grant.handle == handle]:
            del self._grants[key]

    def clear(self) -> None:
        """Revoke every token."""
        self._grants.clear()

    def handles(self) -> set[str]:
        """The handles holding a live token."""
        return {grant.handle for grant in self._grants.values()}
