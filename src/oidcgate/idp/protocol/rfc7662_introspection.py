"""Token introspection responses: RFC 7662, https://www.rfc-editor.org/rfc/rfc7662

A token that is unknown, expired, revoked, or that the caller may not see introspects as
`{"active": false}` and nothing else (§2.2), so callers learn nothing about why.
"""

from __future__ import annotations

from typing import Any

INACTIVE: dict[str, Any] = {"active": False}

_ACCESS_TOKEN_MEMBERS = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti", "groups", "auth_time")


def access_token_response(claims: dict[str, Any], username: str | None) -> dict[str, Any]:
    """§2.2 for one of our JWT access tokens, whose claims were already verified."""
    response: dict[str, Any] = {"active": True, "token_type": "Bearer"}
    response.update({name: claims[name] for name in _ACCESS_TOKEN_MEMBERS if name in claims})
    if username is not None:
        response["username"] = username
    return response


def refresh_token_response(*, issuer: str, client_id: str, sub: str, username: str | None, scope: str,
                           iat: int, exp: int) -> dict[str, Any]:
    """§2.2 for a refresh token (opaque, so the members come from storage). `token_type` says what it is, as
    WSO2 and others write it: a resource server must not take an active refresh token for an access token."""
    response: dict[str, Any] = {"active": True, "token_type": "refresh_token", "scope": scope,
                                "client_id": client_id, "sub": sub, "iss": issuer, "iat": iat, "exp": exp}
    if username is not None:
        response["username"] = username
    return response


def hinted_order(hint: str | None) -> tuple[str, str]:
    """§2.1: the hint only says where to look first; an unknown hint is ignored."""
    return ("refresh_token", "access_token") if hint == "refresh_token" else ("access_token", "refresh_token")
