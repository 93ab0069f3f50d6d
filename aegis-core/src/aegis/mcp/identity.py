"""Identity belongs to the transport: who calls is read from the bearer token, not from arguments.

The plane uses the MCP SDK's own resource-server hooks: a
:class:`~mcp.server.auth.provider.TokenVerifier` backed by the plane's
:class:`~aegis.mcp.tokens.TokenStore`, under which the SDK's bearer middleware
answers a request without a token, or with an unknown or revoked one, with HTTP
401 before it reaches MCP at all. A token's ``client_id`` is its session's
handle, and the SDK binds each MCP session to the principal that opened it, so
one agent's token cannot ride another agent's MCP session either.

A tool call then finds its caller on the HTTP request that carried it
(:func:`caller_of`), and the token is looked up once more there, so a token
revoked while a request was in flight acts for nobody.
"""

from __future__ import annotations

from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.context import ServerRequestContext
from pydantic import AnyHttpUrl

from aegis.mcp.tokens import Grant, TokenStore


class StoreTokenVerifier:
    """The SDK's ``TokenVerifier`` over the plane's token store."""

    def __init__(self, store: TokenStore) -> None:
        self._store = store

    async def verify_token(self, token: str) -> AccessToken | None:
        grant = self._store.lookup(token)
        if grant is None:
            return None
        return AccessToken(token=token, client_id=grant.handle, scopes=[])


def auth_settings(base_url: str) -> AuthSettings:
    """Bearer authentication only: no OAuth endpoints, no protected-resource metadata.

    aegis hands each session its token directly, so there is no authorization
    server to discover; ``issuer_url`` is required by the SDK's settings and
    names the plane itself.
    """
    return AuthSettings(issuer_url=AnyHttpUrl(base_url), resource_server_url=None)


def caller_of(ctx: ServerRequestContext[Any, Any], store: TokenStore) -> Grant | None:
    """The session whose token authenticated the HTTP request of this MCP message."""
    request = ctx.request
    scope = getattr(request, "scope", None)
    user = scope.get("user") if isinstance(scope, dict) else None
    if not isinstance(user, AuthenticatedUser):
        return None
    return store.lookup(user.access_token.token)
