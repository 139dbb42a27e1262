"""The client credentials grant at the provider's token endpoint: RFC 6749 §4.4 and §5
(https://www.rfc-editor.org/rfc/rfc6749#section-4.4).

The provider's answer decides who is at fault: a refused client (§5.2 `invalid_client`,
`unauthorized_client`, `invalid_grant`, `invalid_request`) is the client's 401, refused scopes are a
403, anything else (5xx, timeouts, 404, throttling, nonsense) is the provider's 502.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from oidcgate.plugins.openid_connect.client_auth import ClientAuth
from oidcgate.plugins.openid_connect.errors import InsufficientScope, InvalidToken, ProviderUnavailable
from oidcgate.plugins.openid_connect.transport import ProviderHTTP

CLIENT_ERRORS = frozenset({"invalid_client", "unauthorized_client", "invalid_grant", "invalid_request"})


@dataclass(frozen=True)
class IssuedToken:
    access_token: str = field(repr=False)
    expires_in: int | None


async def client_credentials(http: ProviderHTTP, endpoint: str, client: ClientAuth, scopes: Sequence[str],
                             timeout: float) -> IssuedToken:
    """Exchange a client's credentials for an access token (§4.4.2, §4.4.3)."""
    data = {"grant_type": "client_credentials"}
    if scopes:
        data["scope"] = " ".join(scopes)
    headers: dict[str, str] = {}
    client.apply(data, headers, audience=endpoint)
    status, body = await http.request("token", "POST", endpoint, timeout, data=data, headers=headers)
    if status == 200:
        token = body.get("access_token")
        token_type = body.get("token_type")
        if not isinstance(token, str) or not token or (isinstance(token_type, str)
                                                       and token_type.lower() != "bearer"):
            raise ProviderUnavailable("the identity provider's token response has no bearer access_token")
        expires_in = body.get("expires_in")
        valid = isinstance(expires_in, int) and not isinstance(expires_in, bool) and expires_in > 0
        return IssuedToken(token, expires_in if valid else None)
    error = body.get("error") if isinstance(body, dict) else None
    if status in (400, 401) and error == "invalid_scope":
        raise InsufficientScope("the identity provider refused the requested scopes for this client")
    if status in (400, 401) and error in CLIENT_ERRORS:
        raise InvalidToken("the identity provider refused the client credentials")
    raise ProviderUnavailable(f"the identity provider's token endpoint answered HTTP {status}")
