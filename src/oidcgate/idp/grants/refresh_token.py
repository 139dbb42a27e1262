"""The refresh token grant: RFC 6749 §6, https://www.rfc-editor.org/rfc/rfc6749#section-6"""

from __future__ import annotations

import time
from typing import Any

from oidcgate.idp.grants.base import Grant
from oidcgate.idp.hashing import digest
from oidcgate.idp.protocol.rfc6749_errors import InvalidGrant, InvalidRequest
from oidcgate.idp.protocol.rfc6749_grants import REFRESH_TOKEN, narrow_scope
from oidcgate.idp.protocol.rfc6749_requests import parse_scope
from oidcgate.idp.storage.store import AuthServer, Client, RefreshToken, User


class RefreshTokenGrant(Grant):
    """Rotated on each use; reuse of a rotated token revokes its whole family (RFC 9700 §4.14.2)."""

    GRANT_TYPE = REFRESH_TOKEN

    def token_response(self, server: AuthServer, client: Client, params: dict[str, str]) -> dict[str, Any]:
        token = params.get("refresh_token")
        if token is None:
            raise InvalidRequest("refresh_token is missing")
        token_hash = digest(token)
        row = self.store.get(RefreshToken, token_hash)
        if row is None or row.server_id != server.id or row.client_id != client.client_id:
            raise InvalidGrant("the refresh token is invalid")
        if row.status == "revoked":
            raise InvalidGrant("the refresh token was revoked")
        if row.status == "active" and int(time.time()) >= row.expires_at:
            raise InvalidGrant("the refresh token has expired")
        grant_scope = tuple(row.scope.split(" "))
        scopes = narrow_scope(parse_scope(params.get("scope")), grant_scope)
        if row.status != "active" or self.store.rotate_refresh_token(token_hash) is None:
            self.store.revoke_family(row.family_id)
            raise InvalidGrant("the refresh token was already used; all tokens of its family are revoked")
        user = self.store.get(User, row.user_id)
        if user is None:
            raise InvalidGrant("the user no longer exists")
        response, _, _ = self.tokens.user_tokens(server, client, user, scopes, grant_scope=grant_scope,
                                                 auth_time=row.auth_time, nonce=None, family_id=row.family_id)
        return response
