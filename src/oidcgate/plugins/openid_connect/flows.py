"""From a request to verified, authorized claims: the bearer, introspection and client credentials flows.

Everything that depends only on configuration is compiled in `Authenticator.__init__`. A request
whose token (or client credentials) was seen before costs one hash, one dict lookup and the claim
checks; only a miss calls the provider or verifies a signature. Provider calls are single-flight
per key and bounded by `timeout`; with the cluster cache (`cluster_cache`), a token request or an
introspection is made once for every worker of every data plane. The caches are shared with other
routes (see `cache`): what this route may reuse, and until when, is computed here from its own
settings on every lookup, also for a caller that joined another route's flight. With
`cache_introspection: false` the provider is asked on every request, neither cached nor shared.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from oidcgate.jwt.errors import TokenError, UnknownKey
from oidcgate.jwt.verify import (
    ClaimPolicy,
    Verified,
    check_access_token_type,
    check_claims,
    looks_like_jwt,
    number_claim,
    verify_signature,
)
from oidcgate.plugins.openid_connect import credentials, introspection, token_endpoint
from oidcgate.plugins.openid_connect.authorization import compile_checks, compile_requirement, first_failure
from oidcgate.plugins.openid_connect.cache import Issued, Seen, client_key, token_key
from oidcgate.plugins.openid_connect.client_auth import ClientAuth, secret_method
from oidcgate.plugins.openid_connect.cluster_cache import ClusterCache, Entry
from oidcgate.plugins.openid_connect.credentials import BearerToken, ClientCredentials, Credentials
from oidcgate.plugins.openid_connect.discovery import Loaded, Provider
from oidcgate.plugins.openid_connect.errors import (
    InsufficientScope,
    InvalidToken,
    MissingCredentials,
    OIDCError,
    ProviderUnavailable,
    TooManyAttempts,
)
from oidcgate.plugins.openid_connect.schema import OpenIDConnectConfig
from oidcgate.plugins.pdk import Request

Clock = Callable[[], float]
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


Found = tuple[dict[str, Any], float | None]  # claims, and until when this route may reuse them


def _expiry(claims: dict[str, Any], at: float, ttl: float, leeway: float = 0) -> float:
    """Until the claims' `exp` (plus leeway), and never longer than `ttl` after they were learnt (`at`)."""
    exp = number_claim(claims, "exp")
    return at + ttl if exp is None else min(exp + leeway, at + ttl)


class Authenticator:
    """The plugin's flows for one configuration, over a provider shared with other configurations."""

    def __init__(self, config: OpenIDConnectConfig, provider: Provider, clock: Clock = time.time) -> None:
        self.config = config
        self.provider = provider
        self.clock = clock  # wall time (tokens' `exp` is), replaceable by tests
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
        self.forbidden_claims = tuple(config.claims_forbidden or ())
        self.introspect_jwts = config.introspect_jwt_tokens and self.own_client is not None
        self.shared: ClusterCache | None = None  # the cluster cache (the schema requires session_secret for it)
        if config.cluster_cache_strategy == "redis" and config.session_secret:
            self.shared = ClusterCache(config.cluster_cache_redis, config.session_secret, config.discovery_url,
                                       self.timeout + 1)
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
        """The request's verified, authorized claims; raises OIDCError only: the verifier's refusals
        (`TokenError`, from signatures, `typ` and claims) become the plugin's 401 here, their text kept."""
        found = await credentials.find(request, self.bearer_types, self.client_types)
        if found is None:
            raise MissingCredentials("no credentials were given")
        now = self.clock()
        until: float | None
        try:
            if isinstance(found, BearerToken):
                method, token = "bearer", found.token
                if looks_like_jwt(token) and self.jwt_bearer:
                    verified, until = await self._verified(token, now)
                    check_access_token_type(verified, self.config.bearer_token_typ_jwt_allowed)
                    claims = verified.claims
                    if self.introspect_jwts:  # still active at the provider (not revoked)? Its claims stay the JWT's.
                        _, active_until = await self._introspected(token, now)
                        until = None if active_until is None else min(until, active_until)
                elif self.introspection:
                    method = "introspection"
                    claims, until = await self._introspected(token, now)
                else:
                    raise InvalidToken("the token is not a JWT and introspection is not configured")
            else:
                method = "client_credentials"
                token, (claims, until) = await self._client_credentials(found, now, request.forwarded_ip)
            # The clock is read again: a token fetched just now may carry an iat later than `now`.
            self.check(claims, self.clock(), introspected=method == "introspection" or not looks_like_jwt(token))
        except TokenError as exc:
            raise InvalidToken(exc.description) from None
        return Outcome(method, token, claims, found, until)

    def check(self, claims: dict[str, Any], now: float, *, introspected: bool = False) -> None:
        """Registered claims (`TokenError` when they fail), then this route's rules (`authorize`)."""
        check_claims(claims, self._claim_policy(), now, introspected=introspected)
        self.authorize(claims)

    def authorize(self, claims: dict[str, Any], holder: str = "token") -> None:
        """`claims_forbidden` (401), then scopes, groups and roles (403): a token's or a session's claims."""
        for name in self.forbidden_claims:
            if name in claims:
                raise InvalidToken(f"the {holder} has the forbidden claim {name}")
        failed = first_failure(self.checks, claims)
        if failed is not None:
            raise InsufficientScope(f"the {holder} lacks the required {failed.name}")

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

    async def _verified(self, token: str, now: float) -> tuple[Verified, float]:
        """A JWT whose signature verifies with the provider's keys (cached by hash), and until when this
        route may reuse that; raises TokenError."""
        key = token_key(token)
        ttl, leeway = self.config.cache_ttl, self.config.leeway
        seen = self.caches.verified.get(key, now)
        if seen is None or now >= seen.at + ttl:
            seen = Seen(await self._verify(token), self.clock())
            self.caches.verified.put(key, seen, _expiry(seen.value.claims, seen.at, ttl, leeway), now)
        return seen.value, _expiry(seen.value.claims, seen.at, ttl, leeway)

    async def _verify(self, token: str) -> Verified:
        loaded = await self._ready()
        try:
            return verify_signature(token, loaded.ring)
        except UnknownKey:
            if not await self.provider.rediscover(self.config.rediscovery_lifetime, self.timeout):
                raise
            return verify_signature(token, (await self._ready()).ring)

    async def _introspected(self, token: str, now: float) -> Found:
        """RFC 7662 for an opaque token, cached up to its `exp` and `cache_ttl`."""
        client = self.own_client
        if client is None:  # only an opaque token from the token endpoint gets here without a client
            raise ProviderUnavailable("the token endpoint issued an opaque token, and introspecting it needs "
                                      "the plugin's client_id")
        key = token_key(f"{client.client_id}\0{token}")
        config = self.config
        if config.cache_introspection:
            seen = self.caches.introspected.get(key, now)
            if seen is not None and now < seen.at + config.cache_ttl:
                return seen.value, _expiry(seen.value, seen.at, config.cache_ttl)
            self._raise_if_refused(key, now)
        loaded = await self._ready()
        endpoint = config.introspection_endpoint or loaded.metadata.introspection_endpoint
        if endpoint is None:
            raise ProviderUnavailable("the identity provider has no introspection endpoint")
        if config.client_auth is None:  # not configured: what the provider lists
            client = replace(client, method=secret_method(None, loaded.metadata.introspection_auth_methods))
        audience = config.token_endpoint or loaded.metadata.token_endpoint or loaded.metadata.issuer

        def call() -> Awaitable[dict[str, Any] | None]:
            return introspection.introspect(self.provider.http, endpoint, token, config.introspection_hint, client,
                                            audience, self.timeout, config.introspection_check_active)

        if config.cache_introspection:
            answer = await self.caches.flights.run(("introspect", key), lambda: self._introspect_once(key, call))
        else:  # asked every time: no flight to join, nothing cached or shared (a task: see SingleFlight.run)
            answer = Seen(await asyncio.ensure_future(call()), self.clock())
        result, now = answer.value, answer.at
        kind = None if result is None else introspection.not_an_access_token(result)
        if result is None or kind is not None:
            refusal = InvalidToken(f"the token is {kind}, not an access token" if kind else "the token is not active")
            if config.cache_introspection:
                self._refused(key, refusal, now)
            raise refusal
        if not config.cache_introspection:
            return result, None
        until = _expiry(result, now, config.cache_ttl)
        self.caches.introspected.put(key, Seen(result, now), until, self.clock())
        return result, until

    async def _introspect_once(self, key: bytes, call: Callable[[], Awaitable[dict[str, Any] | None]]
                               ) -> Seen[dict[str, Any] | None]:
        """The provider's answer (None: inactive) and when it was given: with the cluster cache, one
        introspection for the cluster, kept as long as the route that asked may use it."""
        if self.shared is None:
            return Seen(await call(), self.clock())
        config = self.config

        def fresh(entry: Entry) -> bool:
            kept = config.cache_ttl if entry["result"] is not None else config.cache_ttl_neg
            return bool(self.clock() < float(entry["at"]) + kept)

        async def make() -> tuple[Entry, float]:
            result = await call()
            at = self.clock()
            until = _expiry(result, at, config.cache_ttl) if result is not None else at + config.cache_ttl_neg
            return {"result": result, "at": at}, until - at

        entry = await self.shared.once("introspection", key, fresh, make)
        return Seen(entry["result"], float(entry["at"]))

    def _refused(self, key: bytes, error: OIDCError, now: float) -> None:
        self.caches.refused.put(key, Seen(error, now), now + self.config.cache_ttl_neg, now)

    def _raise_if_refused(self, key: bytes, now: float) -> None:
        """The refusal remembered for `key`, if it is younger than this route's `cache_ttl_neg`."""
        refusal = self.caches.refused.get(key, now)
        if refusal is not None and now < refusal.at + self.config.cache_ttl_neg:
            raise type(refusal.value)(refusal.value.description)

    async def _client_credentials(self, client: ClientCredentials, now: float, address: str) -> tuple[str, Found]:
        """A token for the request's client (cached per client, secret hash and scopes), and its claims.

        A miss goes to the provider unless `address` (the client's) has sent too many refused ones.
        """
        loaded = await self._ready()
        endpoint = self.config.token_endpoint or loaded.metadata.token_endpoint
        if endpoint is None:
            raise ProviderUnavailable("the identity provider has no token endpoint")
        key = client_key(client.client_id, client.client_secret, self.scope_string, endpoint)
        if self.config.cache_tokens:
            seen = self.caches.tokens.get(key, now)
            if seen is not None:
                until = self._refresh_at(seen)
                if now < until:
                    return seen.value.token, (seen.value.claims, until)
        self._raise_if_refused(key, now)
        wait = self.provider.attempts.retry_after(address, now)
        if wait is not None:
            raise TooManyAttempts("too many refused client credentials from this address", wait)
        seen = await self.caches.flights.run(key, lambda: self._obtain(client, endpoint, key, loaded, address))
        return seen.value.token, (seen.value.claims, self._refresh_at(seen) if self.config.cache_tokens else None)

    def _obtain(self, client: ClientCredentials, endpoint: str, key: bytes, loaded: Loaded,
                address: str) -> Awaitable[Seen[Issued]]:
        """Start a token request, counted for `address` now rather than when it runs: then the attempts of
        a concurrent burst count before the first of them is answered."""
        self.provider.attempts.begin(address, self.clock())
        return self._request_token(client, endpoint, key, loaded, address)

    async def _request_token(self, client: ClientCredentials, endpoint: str, key: bytes, loaded: Loaded,
                             address: str) -> Seen[Issued]:
        method = secret_method(self.config.client_auth, loaded.metadata.token_auth_methods)
        auth = ClientAuth(client.client_id, method, client.client_secret)
        refused = False
        try:
            token, lifetime, now = await self._issue(auth, endpoint, key)
        except (InvalidToken, InsufficientScope) as exc:
            refused = isinstance(exc, InvalidToken)  # (refused scopes are the route's doing, not a guess)
            self._refused(key, exc, self.clock())
            raise
        finally:
            self.provider.attempts.end(address, refused, self.clock())
        if looks_like_jwt(token):  # from the token endpoint itself: an access token, whatever its typ
            claims = (await self._verified(token, self.clock()))[0].claims
        else:
            claims, _ = await self._introspected(token, self.clock())
        ends = [end for end in (lifetime, number_claim(claims, "exp")) if end is not None]
        seen = Seen(Issued(token, claims, min(ends, default=None)), now)
        if self.config.cache_tokens:
            self.caches.tokens.put(key, seen, self._refresh_at(seen), self.clock())
        return seen

    async def _issue(self, auth: ClientAuth, endpoint: str, key: bytes) -> tuple[str, float | None, float]:
        """A token from the token endpoint, when the provider says it ends, and when it was issued: with the
        cluster cache (and `cache_tokens`), one token request for the cluster until this route would
        refresh it."""
        async def make() -> tuple[Entry, float]:
            issued = await token_endpoint.client_credentials(self.provider.http, endpoint, auth, self.scopes,
                                                             self.timeout)
            at = self.clock()
            ends = None if issued.expires_in is None else at + issued.expires_in
            return {"token": issued.access_token, "ends": ends, "at": at}, self._refresh_point(at, ends) - at

        def fresh(entry: Entry) -> bool:
            ends = entry["ends"]
            return bool(self.clock() < self._refresh_point(float(entry["at"]), None if ends is None else float(ends)))

        if self.shared is None or not self.config.cache_tokens:
            entry, _ = await make()
        else:
            entry = await self.shared.once("token", key, fresh, make)
        ends = entry["ends"]
        return str(entry["token"]), None if ends is None else float(ends), float(entry["at"])

    def _refresh_at(self, seen: Seen[Issued]) -> float:
        return self._refresh_point(seen.at, seen.value.ends)

    def _refresh_point(self, at: float, ends: float | None) -> float:
        """When this route stops using a client-credentials token obtained at `at`: shortly (10%, at most a
        minute) before it ends, or before `cache_ttl` after it was obtained."""
        end = at + self.config.cache_ttl
        if ends is not None:
            end = min(end, ends)
        return end - min(MAX_REFRESH_MARGIN, (end - at) / 10)
