"""Provider metadata and keys: OpenID Connect Discovery 1.0 §4
(https://openid.net/specs/openid-connect-discovery-1_0.html) and the JWKS of RFC 7517 §5.

One `Provider` per discovery URL (and extra JWKS URIs and TLS setting) per worker process, kept in
the plugin's `PluginEnv.state`, so every route naming the issuer and every later configuration share
one discovery document and one key ring. Loading is single-flight. An unknown `kid` may trigger a
rediscovery at most once per `rediscovery_lifetime`, and never within MIN_REDISCOVERY_INTERVAL of the
last load whatever it says (with 0, every made-up `kid` would otherwise cost the provider two calls);
concurrent misses share one load. When the provider is unreachable the keys already held stay in
use. A failed first load is remembered for `RETRY_AFTER` seconds, so a dead provider is not called by
every request, and the next request after that tries again (recovery).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from oidcgate.jwt.verify import KeyRing, build_key_ring
from oidcgate.plugins.openid_connect.attempts import FailedAttempts
from oidcgate.plugins.openid_connect.cache import IssuerCaches, SingleFlight
from oidcgate.plugins.openid_connect.errors import ProviderUnavailable
from oidcgate.plugins.openid_connect.transport import ProviderHTTP

RETRY_AFTER = 1.0  # seconds during which a failed first load is not retried
MIN_REDISCOVERY_INTERVAL = 5.0  # seconds: the floor under rediscovery_lifetime


@dataclass(frozen=True, slots=True)
class Metadata:
    """The members of a discovery document the plugin uses."""

    issuer: str
    jwks_uri: str | None
    token_endpoint: str | None
    introspection_endpoint: str | None
    token_auth_methods: tuple[str, ...]
    introspection_auth_methods: tuple[str, ...]
    signing_algs: tuple[str, ...]
    # What browser sign-in uses (OIDC Discovery §3, RFC 8414 §2).
    authorization_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    end_session_endpoint: str | None = None
    revocation_endpoint: str | None = None
    code_challenge_methods: tuple[str, ...] = ()

    @classmethod
    def parse(cls, doc: dict[str, Any]) -> Metadata:
        def text(name: str) -> str | None:
            value = doc.get(name)
            return value if isinstance(value, str) and value else None

        def strings(name: str) -> tuple[str, ...]:
            value = doc.get(name)
            return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()

        issuer = text("issuer")
        if issuer is None:
            raise ProviderUnavailable("the identity provider's discovery document has no issuer")
        token_methods = strings("token_endpoint_auth_methods_supported")
        return cls(issuer=issuer, jwks_uri=text("jwks_uri"), token_endpoint=text("token_endpoint"),
                   introspection_endpoint=text("introspection_endpoint"),
                   token_auth_methods=token_methods,
                   introspection_auth_methods=strings("introspection_endpoint_auth_methods_supported")
                   or token_methods,
                   signing_algs=strings("id_token_signing_alg_values_supported"),
                   authorization_endpoint=text("authorization_endpoint"),
                   userinfo_endpoint=text("userinfo_endpoint"), end_session_endpoint=text("end_session_endpoint"),
                   revocation_endpoint=text("revocation_endpoint"),
                   code_challenge_methods=strings("code_challenge_methods_supported"))


@dataclass(frozen=True, slots=True)
class Loaded:
    metadata: Metadata
    ring: KeyRing


class Provider:
    """The discovery document and key ring of one issuer, for one worker process."""

    def __init__(self, discovery_url: str, extra_jwks_uris: Sequence[str], http: ProviderHTTP,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.discovery_url = discovery_url
        self.extra_jwks_uris = tuple(extra_jwks_uris)
        self.http = http
        self.loaded: Loaded | None = None
        self.caches = IssuerCaches()
        self.attempts = FailedAttempts()  # refused client credentials per client address
        self._flight: SingleFlight[Loaded] = SingleFlight()
        self.clock = clock  # for intervals: monotonic (tests move it forward)
        self._attempted_at = float("-inf")  # monotonic time of the last (re)load attempt
        self._failed_at = float("-inf")
        self._failure: ProviderUnavailable | None = None

    async def ready(self, timeout: float) -> Loaded:
        """The metadata and keys, loading them on first use; raises ProviderUnavailable."""
        if self.loaded is not None:
            return self.loaded
        if self._failure is not None and self.clock() - self._failed_at < RETRY_AFTER:
            raise self._failure
        return await self._flight.run("load", lambda: self._load(timeout))

    async def rediscover(self, min_interval: float, timeout: float) -> bool:
        """Fetch the document and keys again (after an unknown `kid`), at most once per `min_interval`
        (at least MIN_REDISCOVERY_INTERVAL).

        True when new keys were loaded. If the provider cannot be reached, the old keys stay and
        ProviderUnavailable is raised (also for the rest of the interval): the token may be signed by
        a key we cannot fetch right now, which is not the client's fault.
        """
        if self.clock() - self._attempted_at < max(min_interval, MIN_REDISCOVERY_INTERVAL):
            if self._failure is not None:
                raise self._failure
            return False
        await self._flight.run("load", lambda: self._load(timeout))
        return True

    async def _load(self, timeout: float) -> Loaded:
        self._attempted_at = self.clock()
        try:
            doc = await self.http.get_json("discovery", self.discovery_url, timeout)
            metadata = Metadata.parse(doc)
            uris = ([metadata.jwks_uri] if metadata.jwks_uri else []) + list(self.extra_jwks_uris)
            documents = [await self.http.get_json("jwks", uri, timeout) for uri in uris]
        except ProviderUnavailable as exc:
            self._failure, self._failed_at = exc, self.clock()
            raise
        loaded = Loaded(metadata, build_key_ring(documents, metadata.signing_algs))
        self.loaded, self._failure = loaded, None
        return loaded


def provider_for(state: dict[str, Any], discovery_url: str, extra_jwks_uris: Sequence[str],
                 http: ProviderHTTP, verify: bool) -> Provider:
    """The shared Provider for this configuration, created on first use."""
    providers: dict[tuple[str, tuple[str, ...], bool], Provider] = state.setdefault("providers", {})
    key = (discovery_url, tuple(extra_jwks_uris), verify)
    provider = providers.get(key)
    if provider is None:
        provider = providers[key] = Provider(discovery_url, extra_jwks_uris, http)
    return provider
