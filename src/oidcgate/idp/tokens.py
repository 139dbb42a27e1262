"""Minting the provider's tokens: RFC 9068 access tokens, OpenID Connect ID tokens and refresh tokens.

The grants (`oidcgate.idp.grants`) decide whether a client gets tokens; this module makes them, signed
with the server's current key (`storage.keys`), refresh tokens stored as digests.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from joserfc import jwt

from oidcgate.idp.hashing import digest
from oidcgate.idp.protocol.oidc_core import UserProfile, id_token_claims
from oidcgate.idp.protocol.rfc6749_grants import OFFLINE_ACCESS, OPENID, REFRESH_TOKEN
from oidcgate.idp.protocol.rfc9068_access_token import TYP, access_token_claims
from oidcgate.idp.settings import Settings
from oidcgate.idp.storage.keys import KeyRing
from oidcgate.idp.storage.store import AuthServer, Client, RefreshToken, Store, User


def profile(user: User) -> UserProfile:
    return UserProfile(sub=user.id, username=user.username, groups=tuple(user.groups), name=user.name,
                       email=user.email)


@dataclass(frozen=True)
class IssuedAccessToken:
    token: str
    jti: str
    exp: int


class TokenIssuer:
    def __init__(self, settings: Settings, store: Store, keyring: KeyRing) -> None:
        self.settings = settings
        self.store = store
        self.keyring = keyring

    def issuer(self, server: AuthServer) -> str:
        return self.settings.issuer(server.id)

    def _sign(self, server: AuthServer, claims: dict[str, Any], typ: str) -> str:
        key = self.keyring.signing_key(server.id)
        return jwt.encode({"alg": key.alg, "kid": key.kid, "typ": typ}, claims, key, algorithms=[str(key.alg)])

    def access_token(self, server: AuthServer, client: Client, subject: str, scopes: tuple[str, ...], now: int,
                     user: User | None = None, auth_time: int | None = None) -> IssuedAccessToken:
        jti = secrets.token_urlsafe(16)
        claims = access_token_claims(
            issuer=self.issuer(server), audience=server.audience, client_id=client.client_id, subject=subject,
            scopes=scopes, jti=jti, now=now, lifetime=server.access_token_lifetime,
            groups=user.groups if user else None, auth_time=auth_time)
        return IssuedAccessToken(self._sign(server, claims, TYP), jti, claims["exp"])

    def user_tokens(self, server: AuthServer, client: Client, user: User, scopes: tuple[str, ...], *,
                    grant_scope: tuple[str, ...], auth_time: int, nonce: str | None,
                    family_id: str | None) -> tuple[dict[str, Any], IssuedAccessToken, str | None]:
        """Access token, ID token (with `openid`) and refresh token (with `offline_access`) for a user."""
        now = int(time.time())
        access = self.access_token(server, client, user.id, scopes, now, user, auth_time)
        response: dict[str, Any] = {"access_token": access.token, "token_type": "Bearer",
                                    "expires_in": server.access_token_lifetime, "scope": " ".join(scopes)}
        if OPENID in scopes:
            claims = id_token_claims(issuer=self.issuer(server), client_id=client.client_id, user=profile(user),
                                     scopes=scopes, now=now, lifetime=server.id_token_lifetime, auth_time=auth_time,
                                     access_token=access.token, nonce=nonce)
            response["id_token"] = self._sign(server, claims, "JWT")
        if REFRESH_TOKEN in client.grant_types and OFFLINE_ACCESS in grant_scope:
            refresh = secrets.token_urlsafe(32)
            family_id = family_id or secrets.token_hex(16)
            self.store.add(RefreshToken(
                token_hash=digest(refresh), family_id=family_id, server_id=server.id, client_id=client.client_id,
                user_id=user.id, scope=" ".join(grant_scope), auth_time=auth_time, created_at=now,
                expires_at=now + server.refresh_token_lifetime, status="active", access_jti=access.jti,
                access_exp=access.exp))
            response["refresh_token"] = refresh
        else:
            family_id = None
        return response, access, family_id
