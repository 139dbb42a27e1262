"""Token introspection for opaque tokens: RFC 7662 (https://www.rfc-editor.org/rfc/rfc7662).

The plugin calls the introspection endpoint as its own client (`client_id`/`client_secret` or
`private_key_jwt`, by `client_auth`), never with the caller's credentials. An active token's
response members (`scope`, `client_id`, `sub`, `exp`, `iss`, `aud`, ...) are then treated like the
claims of a JWT. If the provider refuses the plugin's own credentials, the gateway is misconfigured:
that is a 502, not the client's 401.

An active response may describe a refresh token or an ID token (RFC 7662 §2.1: the hint is only a
hint, the provider looks everywhere): such a token is refused, as its response says, in
`token_type` (as WSO2 and others write it), `token_use` (Ory Hydra) or `typ` (Keycloak).
"""

from __future__ import annotations

from typing import Any

from oidcgate.plugins.openid_connect.client_auth import ClientAuth
from oidcgate.plugins.openid_connect.errors import ProviderUnavailable
from oidcgate.plugins.openid_connect.transport import ProviderHTTP

_KINDS = {"refresh_token": "a refresh token", "refresh": "a refresh token",
          "urn:ietf:params:oauth:token-type:refresh_token": "a refresh token",
          "id_token": "an ID token", "id": "an ID token", "urn:ietf:params:oauth:token-type:id_token": "an ID token"}


def not_an_access_token(response: dict[str, Any]) -> str | None:
    """What an active response says the token is, when that is not an access token: "a refresh token",
    "an ID token"; else None."""
    for member in ("token_type", "token_use", "typ"):
        value = response.get(member)
        if isinstance(value, str) and value.lower() in _KINDS:
            return _KINDS[value.lower()]
    return None


async def introspect(http: ProviderHTTP, endpoint: str, token: str, hint: str, client: ClientAuth,
                     audience: str, timeout: float, check_active: bool = True) -> dict[str, Any] | None:
    """The response of an active token (§2.2), or None when the provider says it is not active.

    `check_active` (Kong's `introspection_check_active`): a response must have a boolean `active`; false
    also accepts an object without one (providers whose introspection is not RFC 7662's). An explicit
    `"active": false` is never accepted, whatever Kong does with it: the provider said no.
    """
    data = {"token": token, "token_type_hint": hint}
    headers: dict[str, str] = {}
    client.apply(data, headers, audience=audience)
    status, body = await http.request("introspection", "POST", endpoint, timeout, data=data, headers=headers)
    if status in (400, 401, 403):
        raise ProviderUnavailable("the identity provider refused the gateway's own client credentials "
                                  "at the introspection endpoint")
    if status != 200:
        raise ProviderUnavailable(f"the identity provider's introspection endpoint answered HTTP {status}")
    active = body.get("active")
    if not isinstance(active, bool):
        if check_active or "active" in body:  # absent may pass; present, it must be a boolean
            raise ProviderUnavailable("the identity provider's introspection response has no boolean 'active'")
        return body
    return body if active else None
