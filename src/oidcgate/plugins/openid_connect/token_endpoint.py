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
        return IssuedToken(_vschar(token, "access_token"), expires_in if valid else None)
    error = body.get("error") if isinstance(body, dict) else None
    if status in (400, 401) and error == "invalid_scope":
        raise InsufficientScope("the identity provider refused the requested scopes for this client")
    if status in (400, 401) and error in CLIENT_ERRORS:
        raise InvalidToken("the identity provider refused the client credentials")
    raise ProviderUnavailable(f"the identity provider's token endpoint answered HTTP {status}")


@dataclass(frozen=True)
class TokenSet:
    """The answer to an authorization code or refresh token grant (§5.1, OIDC Core §3.1.3.3)."""

    access_token: str = field(repr=False)
    expires_in: int | None
    id_token: str | None = field(repr=False)
    refresh_token: str | None = field(repr=False)


async def authorization_code(http: ProviderHTTP, endpoint: str, client: ClientAuth, code: str, redirect_uri: str,
                             verifier: str | None, timeout: float) -> TokenSet:
    """Redeem a code (§4.1.3) with the PKCE verifier (RFC 7636 §4.5); a refused code is the browser's 401."""
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier is not None:
        data["code_verifier"] = verifier
    return await _user_grant(http, endpoint, client, data, timeout)


async def refresh(http: ProviderHTTP, endpoint: str, client: ClientAuth, refresh_token: str,
                  timeout: float) -> TokenSet:
    """§6: new tokens for a refresh token (which the provider may rotate: keep the one it returns)."""
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return await _user_grant(http, endpoint, client, data, timeout)


async def _user_grant(http: ProviderHTTP, endpoint: str, client: ClientAuth, data: dict[str, str],
                      timeout: float) -> TokenSet:
    headers: dict[str, str] = {}
    client.apply(data, headers, audience=endpoint)
    status, body = await http.request("token", "POST", endpoint, timeout, data=data, headers=headers)
    if status == 200:
        def text(name: str) -> str | None:
            value = body.get(name)
            return value if isinstance(value, str) and value else None
        token, token_type = text("access_token"), body.get("token_type")
        if token is None or (isinstance(token_type, str) and token_type.lower() != "bearer"):
            raise ProviderUnavailable("the identity provider's token response has no bearer access_token")
        expires_in = body.get("expires_in")
        valid = isinstance(expires_in, int) and not isinstance(expires_in, bool) and expires_in > 0
        refresh_token = text("refresh_token")
        return TokenSet(_vschar(token, "access_token"), expires_in if valid else None, text("id_token"),
                        refresh_token and _vschar(refresh_token, "refresh_token"))
    error = body.get("error") if isinstance(body, dict) else None
    if status in (400, 401) and error in CLIENT_ERRORS:
        raise InvalidToken(f"the identity provider refused the {data['grant_type'].replace('_', ' ')} "
                           f"({error})")
    raise ProviderUnavailable(f"the identity provider's token endpoint answered HTTP {status}")


def _vschar(token: str, name: str) -> str:
    """`token` when it is RFC 6749 text (Appendix A.12/A.17: printable ASCII, VSCHAR); a token with anything
    else would be refused by every header it goes into, or split one, so it is the provider's fault (502)."""
    if not (token.isascii() and token.isprintable()):
        raise ProviderUnavailable(f"the identity provider's {name} is not printable ASCII (RFC 6749 A.12)")
    return token
