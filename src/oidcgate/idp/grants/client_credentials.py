"""The client credentials grant: RFC 6749 §4.4, https://www.rfc-editor.org/rfc/rfc6749#section-4.4"""

from __future__ import annotations

import time
from typing import Any

from oidcgate.idp.grants.base import Grant
from oidcgate.idp.protocol.rfc6749_grants import CLIENT_CREDENTIALS, resolve_scope
from oidcgate.idp.protocol.rfc6749_requests import parse_scope
from oidcgate.idp.storage.store import AuthServer, Client


class ClientCredentialsGrant(Grant):
    """No user and no refresh token (§4.4.3): the client acts on its own behalf."""

    GRANT_TYPE = CLIENT_CREDENTIALS

    def token_response(self, server: AuthServer, client: Client, params: dict[str, str]) -> dict[str, Any]:
        scopes = resolve_scope(parse_scope(params.get("scope")), client.scopes, CLIENT_CREDENTIALS)
        access = self.tokens.access_token(server, client, client.client_id, scopes, int(time.time()))
        return {"access_token": access.token, "token_type": "Bearer", "expires_in": server.access_token_lifetime,
                "scope": " ".join(scopes)}
