"""JWT access tokens in the RFC 9068 profile: https://www.rfc-editor.org/rfc/rfc9068

Claims are built and checked here without I/O; signing and signature checks use joserfc keys handed
in by the caller. `scope` is the space-separated string of §2.2.3.1; users' tokens carry `groups`
(§2.2.3.1 allows it) and `auth_time`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

TYP = "at+jwt"
VERIFY_ALGORITHMS = ("RS256", "ES256")


class InvalidAccessToken(ValueError):
    """The token is not one of this issuer's valid access tokens (why is in the message)."""


def access_token_claims(*, issuer: str, audience: str, client_id: str, subject: str, scopes: Collection[str],
                        jti: str, now: int, lifetime: int, groups: Collection[str] | None = None,
                        auth_time: int | None = None) -> dict[str, Any]:
    """§2.2: iss, exp, aud, sub, client_id, iat, jti and scope; users add auth_time and groups."""
    claims: dict[str, Any] = {
        "iss": issuer, "sub": subject, "aud": audience, "iat": now, "exp": now + lifetime,
        "jti": jti, "client_id": client_id, "scope": " ".join(scopes),
    }
    if auth_time is not None:
        claims["auth_time"] = auth_time
    if groups is not None:
        claims["groups"] = list(groups)
    return claims


def decode(token: str, keys: KeySet, *, issuer: str, now: int) -> dict[str, Any]:
    """§4: check the signature with the issuer's keys, `typ`, `iss` and `exp`; return the claims."""
    try:
        decoded = jwt.decode(token, keys, algorithms=list(VERIFY_ALGORITHMS))
    except (JoseError, ValueError, TypeError) as exc:  # malformed input, unknown kid, bad signature
        raise InvalidAccessToken(f"not a valid signed token: {exc}") from exc
    header, claims = decoded.header, decoded.claims
    if str(header.get("typ", "")).lower() not in (TYP, f"application/{TYP}"):
        raise InvalidAccessToken("not an access token (typ is not at+jwt)")
    if claims.get("iss") != issuer:
        raise InvalidAccessToken("issued by another authorization server")
    exp = claims.get("exp")
    if not isinstance(exp, int) or now >= exp:
        raise InvalidAccessToken("expired")
    return claims
