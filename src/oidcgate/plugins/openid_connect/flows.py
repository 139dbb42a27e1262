"""From a request to verified, authorized claims: the bearer, introspection and client credentials flows.

Everything that depends only on configuration is compiled in `Authenticator.__init__`. A request
whose token (or client credentials) was seen before costs one hash, one dict lookup and the claim
checks; only a miss calls the provider or verifies a signature. Provider calls are single-flight
per key and bounded by `timeout`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

from oidcgate.plugins.openid_connect import credentials, introspection, token_endpoint
from oidcgate.plugins.openid_connect.authorization import compile_checks, compile_requirement, first_failure
from oidcgate.plugins.openid_connect.cache import client_key, token_key
from oidcgate.plugins.openid_connect.client_auth import ClientAuth, secret_method
from oidcgate.plugins.openid_connect.credentials import BearerToken, ClientCredentials, Credentials
from oidcgate.plugins.openid_connect.discovery import Loaded, Provider
from oidcgate.plugins.openid_connect.errors import (
    InsufficientScope,
    InvalidToken,
    MissingCredentials,
    ProviderUnavailable,
    UnknownKey,
)
from oidcgate.plugins.openid_connect.schema import OpenIDConnectConfig
from oidcgate.plugins.openid_connect.verify import ClaimPolicy, check_claims, looks_like_jwt, verify_signature
from oidcgate.plugins.pdk import Request

MAX_REFRESH_MARGIN = 60.0  # a client-credentials token is dropped this long (or 10%) before it expires


@dataclass(frozen=True, slots=True)
class Outcome:
    """A request that passed: how, its token for the upstream, the token's claims, and until when this
    same result may be reused for the same credentials (None: not cached, ask again next time)."""

    method: str  # "bearer", "introspection" or "client_credentials"
    token: str
    claims: dict[str, Any]
    credentials: Credentials
    reusable_until: float | None


Found = tuple[dict[str, Any], float | None]  # claims, and until when they are cached


def _expiry(claims: dict[str, Any], now: float, ttl: float, leeway: float = 0) -> float:
    """Cache until the token's `exp` (plus leeway), never longer than `ttl` seconds from now."""
    exp = claims.get("exp")
    limit = now + ttl
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        return min(exp + leeway, limit)
    return limit


class Authenticator:
    """The plugin's flows for one configuration, over a provider shared with other configurations."""

    def __init__(self, config: OpenIDConnectConfig, provider: Provider) -> None:
        self.config = config
        self.provider = provider
        self.caches = provider.caches
        self.timeout = config.timeout / 1000
        methods = set(config.auth_methods)
        self.jwt_bearer = "bearer" in methods
        self.own_client = self._own_client(config)
        self.introspection = "introspection" in methods and self.own_client is not None
        self.bearer_types = frozenset(config.bearer_token_param_type if methods & {"bearer", "introspection"}
                                      else ())
        self.client_types = frozenset(config.client_credentials_param_type if "client_credentials" in methods
                                      else ())
        self.scopes = tuple(config.scopes)
        self.scope_string = " ".join(config.scopes)
        self.checks = compile_checks([("scopes", config.scopes_claim, config.scopes_required),
                                      ("groups", config.groups_claim, config.groups_required),
                                      ("roles", config.roles_claim, config.roles_required)])
        self.audience = compile_requirement(config.audience_required)
        self._policy: tuple[Loaded, ClaimPolicy] | None = None

    @staticmethod
    def _own_client(config: OpenIDConnectConfig) -> ClientAuth | None:
        """The plugin's own client (the first configured), for introspection."""
        if not config.client_id:
            return None
        method = config.client_auth[0] if config.client_auth else "client_secret_basic"
        secret = config.client_secret[0] if config.client_secret else None
        jwk = config.client_jwk[0] if config.client_jwk else None
        return ClientAuth(config.client_id[0], method, secret, jwk)

    async def authenticate(self, request: Request) -> Outcome:
        found = await credentials.find(request, self.bearer_types, self.client_types)
        if found is None:
            raise MissingCredentials("no credentials were given")
        now = time.time()
        if isinstance(found, BearerToken):
            method, token = "bearer", found.token
            if looks_like_jwt(token) and self.jwt_bearer:
                claims, until = await self._verified(token, now)
            elif self.introspection:
                method = "introspection"
                claims, until = await self._introspected(token, now)
            else:
                raise InvalidToken("the token is not a JWT and introspection is not configured")
        else:
            method = "client_credentials"
            token, (claims, until) = await self._client_credentials(found, now)
        # The clock is read again: a token fetched just now may carry an iat later than `now`.
        self.check(claims, time.time(), require_issuer=method != "introspection")
        return Outcome(method, token, claims, found, until)

    def check(self, claims: dict[str, Any], now: float, *, require_issuer: bool = True) -> None:
        """Registered claims (401 when they fail), then scopes, groups and roles (403)."""
        check_claims(claims, self._claim_policy(), now, require_issuer=require_issuer)
        failed = first_failure(self.checks, claims)
        if failed is not None:
            raise InsufficientScope(f"the token lacks the required {failed.name}")

    def _claim_policy(self) -> ClaimPolicy:
        """Accepted issuers: `issuers_allowed`, else the configured one and the one discovery names."""
        loaded = self.provider.loaded
        assert loaded is not None  # every flow made the provider ready before claims exist
        if self._policy is None or self._policy[0] is not loaded:
            config = self.config
            issuers = config.issuers_allowed or [config.issuer_url, loaded.metadata.issuer]
            policy = ClaimPolicy(frozenset(i.rstrip("/") for i in issuers), config.leeway, self.audience,
                                 tuple(config.audience_claim))
            self._policy = (loaded, policy)
        return self._policy[1]

    async def _ready(self) -> Loaded:
        return self.provider.loaded or await self.provider.ready(self.timeout)

    async def _verified(self, token: str, now: float) -> Found:
        """The claims of a JWT whose signature verifies with the provider's keys (cached by hash)."""
        key = token_key(token)
        entry = self.caches.verified.entry(key, now)
        if entry is not None:
            return entry[1], entry[0]
        loaded = await self._ready()
        try:
            claims = verify_signature(token, loaded.ring)
        except UnknownKey:
            if not await self.provider.rediscover(self.config.rediscovery_lifetime, self.timeout):
                raise
            claims = verify_signature(token, (await self._ready()).ring)
        until = _expiry(claims, now, self.config.cache_ttl, self.config.leeway)
        self.caches.verified.put(key, claims, until, now)
        return claims, until

    async def _introspected(self, token: str, now: float) -> Found:
        """RFC 7662 for an opaque token, cached up to its `exp` and `cache_ttl`."""
        client = self.own_client
        if client is None:  # only an opaque token from the token endpoint gets here without a client
            raise ProviderUnavailable("the token endpoint issued an opaque token, and introspecting it needs "
                                      "the plugin's client_id")
        key = token_key(f"{client.client_id}\0{token}")
        if self.config.cache_introspection:
            entry = self.caches.introspected.entry(key, now)
            if entry is not None:
                return entry[1], entry[0]
            if self.caches.refused.get(key, now) is not None:
                raise InvalidToken("the token is not active")
        loaded = await self._ready()
        endpoint = self.config.introspection_endpoint or loaded.metadata.introspection_endpoint
        if endpoint is None:
            raise ProviderUnavailable("the identity provider has no introspection endpoint")
        if self.config.client_auth is None:  # not configured: what the provider lists
            client = replace(client, method=secret_method(None, loaded.metadata.introspection_auth_methods))
        audience = self.config.token_endpoint or loaded.metadata.token_endpoint or loaded.metadata.issuer
        result = await self.caches.flights.run(("introspect", key), lambda: introspection.introspect(
            self.provider.http, endpoint, token, self.config.introspection_hint, client, audience, self.timeout))
        if result is None:
            if self.config.cache_introspection:
                self.caches.refused.put(key, InvalidToken("inactive"), now + self.config.cache_ttl_neg, now)
            raise InvalidToken("the token is not active")
        if not self.config.cache_introspection:
            return result, None
        until = _expiry(result, now, self.config.cache_ttl)
        self.caches.introspected.put(key, result, until, now)
        return result, until

    async def _client_credentials(self, client: ClientCredentials, now: float) -> tuple[str, Found]:
        """A token for the request's client (cached per client, secret hash and scopes), and its claims."""
        loaded = await self._ready()
        endpoint = self.config.token_endpoint or loaded.metadata.token_endpoint
        if endpoint is None:
            raise ProviderUnavailable("the identity provider has no token endpoint")
        key = client_key(client.client_id, client.client_secret, self.scope_string, endpoint)
        caches = self.caches
        if self.config.cache_tokens:
            entry = caches.tokens.entry(key, now)
            if entry is not None:
                token, claims = entry[1]
                return token, (claims, entry[0])
        refused = caches.refused.get(key, now)
        if refused is not None:
            raise type(refused)(refused.description)
        return await caches.flights.run(key, lambda: self._obtain(client, endpoint, key, loaded))

    async def _obtain(self, client: ClientCredentials, endpoint: str, key: bytes,
                      loaded: Loaded) -> tuple[str, Found]:
        method = secret_method(self.config.client_auth, loaded.metadata.token_auth_methods)
        auth = ClientAuth(client.client_id, method, client.client_secret)
        try:
            issued = await token_endpoint.client_credentials(self.provider.http, endpoint, auth, self.scopes,
                                                             self.timeout)
        except (InvalidToken, InsufficientScope) as exc:
            now = time.time()
            self.caches.refused.put(key, exc, now + self.config.cache_ttl_neg, now)
            raise
        now = time.time()
        token = issued.access_token
        if looks_like_jwt(token):
            claims, _ = await self._verified(token, now)
        else:
            claims, _ = await self._introspected(token, now)
        if not self.config.cache_tokens:
            return token, (claims, None)
        until = _refresh_at(issued, claims, now, self.config.cache_ttl)
        self.caches.tokens.put(key, (token, claims), until, now)
        return token, (claims, until)


def _refresh_at(issued: token_endpoint.IssuedToken, claims: dict[str, Any], now: float, ttl: float) -> float:
    """When to stop using a client-credentials token: shortly (10%, at most a minute) before it expires."""
    ends = [now + ttl]
    if issued.expires_in is not None:
        ends.append(now + issued.expires_in)
    exp = claims.get("exp")
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        ends.append(exp)
    end = min(ends)
    return end - min(MAX_REFRESH_MARGIN, (end - now) / 10)
