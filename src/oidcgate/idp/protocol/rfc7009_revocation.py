"""Token revocation: RFC 7009, https://www.rfc-editor.org/rfc/rfc7009

§2.2: revoking an invalid or unknown token still answers 200. Revoking a refresh token also revokes
the access tokens issued from the same grant (§2.1, "SHOULD"), which the provider does by family.
"""

from __future__ import annotations

from oidcgate.idp.protocol.rfc6749_errors import InvalidRequest, OAuthError

TOKEN_TYPE_HINTS = ("access_token", "refresh_token")


class UnsupportedTokenType(OAuthError):
    """§2.2.1: the server cannot revoke tokens of the hinted type."""

    error = "unsupported_token_type"


def check_request(token: str | None, hint: str | None) -> str:
    """§2.1: `token` is required; a hint names one of the types this server issues."""
    if token is None:
        raise InvalidRequest("token is missing")
    if hint is not None and hint not in TOKEN_TYPE_HINTS:
        raise UnsupportedTokenType(f"cannot revoke tokens of type {hint!r}")
    return token
