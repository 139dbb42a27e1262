"""OpenID Connect Core 1.0: ID tokens, standard claims by scope, and OIDC error codes, free of I/O.

https://openid.net/specs/openid-connect-core-1_0.html
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from oidcgate.idp.protocol.rfc6749_errors import OAuthError


class LoginRequired(OAuthError):
    """§3.1.2.6: prompt=none, and nobody is signed in."""

    error = "login_required"


class ConsentRequired(OAuthError):
    error = "consent_required"


class InteractionRequired(OAuthError):
    error = "interaction_required"


class RequestNotSupported(OAuthError):
    error = "request_not_supported"


class RequestUriNotSupported(OAuthError):
    error = "request_uri_not_supported"


@dataclass(frozen=True)
class UserProfile:
    """The claims source for one user."""

    sub: str
    username: str
    groups: tuple[str, ...] = ()
    name: str | None = None
    email: str | None = None
    email_verified: bool = False  # nothing verifies addresses here, so always False


# §5.4 plus Okta's `groups` scope. `sub` is always returned.
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": ("name", "preferred_username"),
    "email": ("email", "email_verified"),
    "groups": ("groups",),
}
STANDARD_SCOPES = ("openid", "profile", "email", "groups", "offline_access")
CLAIMS_SUPPORTED = ("iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "amr",
                    "name", "preferred_username", "email", "email_verified", "groups")


def scoped_claims(user: UserProfile, scopes: Collection[str]) -> dict[str, Any]:
    """The user's claims that the granted scopes release (§5.4), always with `sub`."""
    values: dict[str, Any] = {
        "name": user.name, "preferred_username": user.username, "email": user.email,
        "email_verified": user.email_verified if user.email else None, "groups": list(user.groups),
    }
    claims: dict[str, Any] = {"sub": user.sub}
    for scope in scopes:
        for claim in SCOPE_CLAIMS.get(scope, ()):
            if values[claim] is not None:
                claims[claim] = values[claim]
    return claims


def token_hash(token: str) -> str:
    """§3.1.3.6 at_hash: the left half of SHA-256 of the token (for the RS256/ES256 keys used here)."""
    digest = hashlib.sha256(token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def id_token_claims(*, issuer: str, client_id: str, user: UserProfile, scopes: Collection[str], now: int,
                    lifetime: int, auth_time: int, access_token: str, nonce: str | None) -> dict[str, Any]:
    """§2: the ID token; `nonce` only when the authentication request carried one (never on refresh, §12.2)."""
    claims = {
        **scoped_claims(user, scopes),
        "iss": issuer, "aud": client_id, "iat": now, "exp": now + lifetime, "auth_time": auth_time,
        "amr": ["pwd"], "at_hash": token_hash(access_token),
    }
    if nonce is not None:
        claims["nonce"] = nonce
    return claims
