"""The authorization code grant's token request: RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6).

https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3 (the authorization request that issues the code is
`oidcgate.idp.sign_in`).
"""

from __future__ import annotations

import time
from typing import Any

from oidcgate.idp.grants.base import Grant
from oidcgate.idp.hashing import digest
from oidcgate.idp.protocol import rfc7636_pkce
from oidcgate.idp.protocol.rfc6749_errors import InvalidGrant, InvalidRequest
from oidcgate.idp.protocol.rfc6749_grants import AUTHORIZATION_CODE, IssuedCode, check_code
from oidcgate.idp.storage.store import AuthorizationCode, AuthServer, Client, User


class AuthorizationCodeGrant(Grant):
    """A code is redeemed once; a replayed one revokes what it was exchanged for (§4.1.2)."""

    GRANT_TYPE = AUTHORIZATION_CODE

    def token_response(self, server: AuthServer, client: Client, params: dict[str, str]) -> dict[str, Any]:
        code = params.get("code")
        if code is None:
            raise InvalidRequest("code is missing")
        code_hash = digest(code)
        row = self.store.get(AuthorizationCode, code_hash)
        if row is None or row.server_id != server.id:
            raise InvalidGrant("the authorization code is invalid")
        now = int(time.time())
        if row.used_at is None:
            check_code(IssuedCode(row.client_id, row.redirect_uri, row.expires_at), client_id=client.client_id,
                       redirect_uri=params.get("redirect_uri"), now=now)
        claimed = self.store.use_code(code_hash, now) if row.used_at is None else None
        if claimed is None:
            self._revoke_exchange(code_hash)
            raise InvalidGrant("the authorization code was already used; the tokens issued for it are revoked")
        rfc7636_pkce.verify(params.get("code_verifier"), claimed.code_challenge)
        user = self.store.get(User, claimed.user_id)
        if user is None:
            raise InvalidGrant("the user no longer exists")
        scopes = tuple(claimed.scope.split(" "))
        response, access, family_id = self.tokens.user_tokens(server, client, user, scopes, grant_scope=scopes,
                                                              auth_time=claimed.auth_time, nonce=claimed.nonce,
                                                              family_id=None)
        self.store.record_code_exchange(code_hash, access.jti, access.exp, family_id)
        return response

    def _revoke_exchange(self, code_hash: str) -> None:
        row = self.store.get(AuthorizationCode, code_hash)
        if row is not None and row.access_jti is not None and row.access_exp is not None:
            self.store.revoke_access_token(row.access_jti, row.access_exp)
        if row is not None and row.family_id is not None:
            self.store.revoke_family(row.family_id)
