"""The authorization server's token side: client authentication, the token endpoint (dispatching to
the registered grants), introspection, revocation and UserInfo. Synchronous (the HTTP layer runs it in
worker threads); protocol rules come from `protocol`, state from `storage`, tokens from `tokens`.
"""

from __future__ import annotations

import time
from typing import Any

from oidcgate.idp.grants import DEFAULT_GRANTS, Grant
from oidcgate.idp.hashing import SecretHasher, VerificationCache, digest
from oidcgate.idp.protocol import rfc6750_bearer, rfc7009_revocation, rfc7523_client_assertion
from oidcgate.idp.protocol import rfc7662_introspection as introspection
from oidcgate.idp.protocol.oidc_core import scoped_claims
from oidcgate.idp.protocol.rfc6749_errors import InvalidClient, InvalidRequest, UnauthorizedClient
from oidcgate.idp.protocol.rfc6749_grants import OPENID, check_grant_type
from oidcgate.idp.protocol.rfc6749_requests import ClientCredentials, extract_client_credentials
from oidcgate.idp.protocol.rfc9068_access_token import InvalidAccessToken, decode
from oidcgate.idp.settings import Settings
from oidcgate.idp.storage.keys import RELOAD_INTERVAL, KeyRing
from oidcgate.idp.storage.store import AuthServer, Client, RefreshToken, Store, User
from oidcgate.idp.throttle import FailureThrottle
from oidcgate.idp.tokens import TokenIssuer, profile
from oidcgate.idp.ttl_cache import ThreadSafeTtlCache

AUTH_FAILED = "Client authentication failed: unknown client or wrong credentials"
MAX_HOLD = 10.0  # seconds a failed client authentication may be held; clients give up before much longer


class UnknownServer(LookupError):
    """No authorization server has this id (the HTTP layer answers 404)."""


class SlowedInvalidClient(InvalidClient):
    """A failed client authentication from an address that keeps failing for this client: the HTTP
    layer answers it only after `hold` seconds, without holding a worker thread."""

    def __init__(self, description: str, hold: float) -> None:
        super().__init__(f"{description} (answered after {hold:.1f} s: repeated failures from this address)")
        self.hold = hold


class Provider:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.keyring = KeyRing(store)
        self.tokens = TokenIssuer(settings, store, self.keyring)
        self.hasher = SecretHasher(settings.argon2)
        self.verified_secrets = VerificationCache(settings.secret_cache_ttl)
        self.throttle = FailureThrottle(settings.failure_threshold, settings.failure_base_delay,
                                        settings.failure_max_delay)
        # Every token request needs its server and client: both are cached as briefly as the keys, so
        # that a change made by another process (the CLI) is seen within RELOAD_INTERVAL.
        self._servers: ThreadSafeTtlCache[str, AuthServer] = ThreadSafeTtlCache(RELOAD_INTERVAL)
        self._clients: ThreadSafeTtlCache[str, Client] = ThreadSafeTtlCache(RELOAD_INTERVAL)
        self.grants: dict[str, Grant] = {}
        for grant in DEFAULT_GRANTS:
            self.register_grant(grant)

    def register_grant(self, grant: type[Grant]) -> None:
        """Serve `grant.GRANT_TYPE` at the token endpoint (and advertise it in discovery)."""
        self.grants[grant.GRANT_TYPE] = grant(self.store, self.tokens)

    def server(self, server_id: str) -> AuthServer:
        server = self._servers.get(server_id)
        if server is None:
            server = self.store.get(AuthServer, server_id)
            if server is None:
                raise UnknownServer(server_id)
            self._servers.put(server_id, server)
        return server

    def forget_server(self, server_id: str) -> None:
        self._servers.discard(lambda key: key == server_id)
        self.keyring.invalidate(server_id)

    def client(self, client_id: str) -> Client | None:
        client = self._clients.get(client_id)
        if client is None:
            client = self.store.get(Client, client_id)
            if client is not None:
                self._clients.put(client_id, client)
        return client

    def forget_client(self, client_id: str) -> None:
        self._clients.discard(lambda key: key == client_id)
        self.verified_secrets.forget(client_id)

    def issuer(self, server: AuthServer) -> str:
        return self.tokens.issuer(server)

    # Client authentication (RFC 6749 §2.3, RFC 7523 §3).

    def authenticate_client(self, server: AuthServer, credentials: ClientCredentials, endpoint: str,
                            *, allow_public: bool, source: str) -> Client:
        """The client, if its credentials are right. They are always checked, so a client that others
        tried to guess still gets in with its secret (high-entropy: not guessable); failures from an
        address that keeps failing for this client id are answered slowly (`SlowedInvalidClient`)."""
        client_id = credentials.client_id
        if client_id is None and credentials.assertion is not None:
            client_id = rfc7523_client_assertion.unverified_issuer(credentials.assertion)
        if not client_id:
            raise InvalidClient("client_id is missing")
        key = ("client", client_id, source)
        client = self.client(client_id)
        try:
            if client is None or client.auth_method != credentials.method:
                raise InvalidClient(AUTH_FAILED)
            if client.auth_method == "none" and not allow_public:
                raise InvalidClient("this endpoint requires a confidential client")
            self._check_credentials(server, client, credentials, endpoint)
        except InvalidClient as exc:
            self.throttle.failed(key)
            hold = min(self.throttle.delay(key), MAX_HOLD)
            if hold > 0:
                raise SlowedInvalidClient(exc.description, hold) from exc
            raise
        self.throttle.succeeded(key)
        return client

    def _check_credentials(self, server: AuthServer, client: Client, credentials: ClientCredentials,
                           endpoint: str) -> None:
        if credentials.secret is not None:
            stored = client.secret_hash or ""
            if self.verified_secrets.hit(client.client_id, credentials.secret, stored):
                return
            if not self.hasher.verify(stored, credentials.secret):
                raise InvalidClient(AUTH_FAILED)
            self.verified_secrets.remember(client.client_id, credentials.secret, stored)
        elif credentials.assertion is not None:
            issuer = self.issuer(server)
            keys = rfc7523_client_assertion.load_client_keys(client.jwks or {"keys": []})
            verified = rfc7523_client_assertion.verify(
                credentials.assertion, client_id=client.client_id, keys=keys,
                audiences={issuer, f"{issuer}/v1/token", endpoint}, now=int(time.time()))
            if not self.store.remember_assertion(client.client_id, verified.jti, verified.exp):
                raise InvalidClient("client_assertion was already used (jti replay)")

    def _client(self, server: AuthServer, params: dict[str, str], authorization: str | None, endpoint: str,
                *, allow_public: bool, source: str) -> Client:
        credentials = extract_client_credentials(authorization, params)
        return self.authenticate_client(server, credentials, endpoint, allow_public=allow_public, source=source)

    # The token endpoint (RFC 6749 §3.2): the grant named by `grant_type`.

    def token(self, server_id: str, params: dict[str, str], authorization: str | None,
              source: str) -> dict[str, Any]:
        server = self.server(server_id)
        endpoint = f"{self.issuer(server)}/v1/token"
        client = self._client(server, params, authorization, endpoint, allow_public=True, source=source)
        grant_type = check_grant_type(params.get("grant_type"), self.grants, client.grant_types)
        return self.grants[grant_type].token_response(server, client, params)

    # Token checks shared by introspection, revocation and UserInfo.

    def access_token_claims(self, server: AuthServer, token: str) -> dict[str, Any] | None:
        """The claims of a valid, unrevoked access token of this server; None for anything else."""
        try:
            claims = decode(token, self.keyring.verification_keys(server.id), issuer=self.issuer(server),
                            now=int(time.time()))
        except InvalidAccessToken:
            return None
        jti = claims.get("jti")
        if not isinstance(jti, str) or self.store.is_revoked(jti):
            return None
        # The tokens of a deleted client or user are no longer active either.
        if self.client(str(claims.get("client_id"))) is None:
            return None
        if "auth_time" in claims and self._token_user(claims) is None:
            return None
        return claims

    def _token_user(self, claims: dict[str, Any]) -> User | None:
        """The user an access token was issued for; None for client-credentials tokens (no auth_time)."""
        return self.store.get(User, claims["sub"]) if "auth_time" in claims else None

    def _active_refresh_token(self, server: AuthServer, token: str) -> RefreshToken | None:
        row = self.store.get(RefreshToken, digest(token))
        if row is None or row.server_id != server.id or row.status != "active" or row.expires_at <= time.time():
            return None
        return row

    # Introspection (RFC 7662) and revocation (RFC 7009).

    def introspect(self, server_id: str, params: dict[str, str], authorization: str | None,
                   source: str) -> dict[str, Any]:
        server = self.server(server_id)
        client = self._client(server, params, authorization, f"{self.issuer(server)}/v1/introspect",
                              allow_public=False, source=source)
        token = params.get("token")
        if token is None:
            raise InvalidRequest("token is missing")
        for kind in introspection.hinted_order(params.get("token_type_hint")):
            if kind == "access_token" and (claims := self.access_token_claims(server, token)):
                user = self._token_user(claims)
                return introspection.access_token_response(claims, user.username if user else None)
            # A refresh token is only shown to the client it was issued to.
            if kind == "refresh_token" and (row := self._active_refresh_token(server, token)) \
                    and row.client_id == client.client_id:
                user = self.store.get(User, row.user_id)
                return introspection.refresh_token_response(
                    issuer=self.issuer(server), client_id=row.client_id, sub=row.user_id,
                    username=user.username if user else None, scope=row.scope, iat=row.created_at,
                    exp=row.expires_at)
        return introspection.INACTIVE

    def revoke(self, server_id: str, params: dict[str, str], authorization: str | None, source: str) -> None:
        server = self.server(server_id)
        client = self._client(server, params, authorization, f"{self.issuer(server)}/v1/revoke", allow_public=True,
                              source=source)
        token = rfc7009_revocation.check_request(params.get("token"), params.get("token_type_hint"))
        row = self.store.get(RefreshToken, digest(token))
        if row is not None and row.server_id == server.id:
            if row.client_id != client.client_id:
                raise UnauthorizedClient("the token was issued to another client")
            self.store.revoke_family(row.family_id)
            return
        claims = self.access_token_claims(server, token)
        if claims is None:
            return  # §2.2: invalid tokens need no revocation
        if claims.get("client_id") != client.client_id:
            raise UnauthorizedClient("the token was issued to another client")
        self.store.revoke_access_token(claims["jti"], claims["exp"])

    # UserInfo (OIDC Core §5.3).

    def userinfo(self, server_id: str, token: str) -> dict[str, Any]:
        server = self.server(server_id)
        claims = self.access_token_claims(server, token)
        if claims is None:
            raise rfc6750_bearer.InvalidToken("the access token is invalid, expired or revoked")
        scopes = str(claims.get("scope", "")).split(" ")
        if OPENID not in scopes:
            raise rfc6750_bearer.InsufficientScope("the openid scope is required")
        user = self._token_user(claims)
        if user is None:
            raise rfc6750_bearer.InvalidToken("the access token does not belong to a user")
        return scoped_claims(profile(user), scopes)
