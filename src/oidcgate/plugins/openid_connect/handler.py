"""The openid-connect plugin's handler (Kong's `handler.lua`): authenticate in `access`, then shape
the upstream request.

The work lives beside it: `flows` (bearer, introspection, client credentials), `discovery`, `cache`,
`credentials`, `verify`, `authorization`, `headers`, `errors`. Per-process state (providers, their
caches, the HTTP client) sits in `PluginEnv.state("openid-connect")`, so it survives new
configurations; everything derived from this instance's config is computed here, once.

Hot path: what a successful request led to (claim headers, consumer, identity) is kept per instance,
keyed by a hash of the Authorization header, until the token or cached token behind it expires. A
repeat request then costs one pass over its headers, one hash, one dict lookup and the header edits.
The identity's `claims` and the credential dict are shared between requests with the same token:
later plugins read them, they must not change them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from oidcgate.config.entities import Consumer
from oidcgate.plugins.base import Plugin
from oidcgate.plugins.openid_connect import credentials
from oidcgate.plugins.openid_connect.authorization import claim_at, claim_values
from oidcgate.plugins.openid_connect.cache import TTLCache
from oidcgate.plugins.openid_connect.discovery import provider_for
from oidcgate.plugins.openid_connect.errors import InsufficientScope, InvalidToken, OIDCError, to_exit
from oidcgate.plugins.openid_connect.flows import Authenticator, Outcome
from oidcgate.plugins.openid_connect.headers import ClaimHeaders, UnsafeClaimValue
from oidcgate.plugins.openid_connect.schema import OpenIDConnectConfig
from oidcgate.plugins.openid_connect.transport import http_client
from oidcgate.plugins.pdk import Context, Headers, Identity, PluginEnv, Request

NAME = "openid-connect"


@dataclass(frozen=True, slots=True)
class Prepared:
    """What one accepted set of credentials means for the upstream request, computed once."""

    outcome: Outcome
    claim_headers: tuple[tuple[str, str], ...]
    token_value: str
    consumer: Consumer | None
    credential: dict[str, Any]
    subject: str | None
    client_id: str | None
    scopes: tuple[str, ...]
    groups: tuple[str, ...]
    source: str


class OpenIDConnectHandler(Plugin[OpenIDConnectConfig]):
    NAME = NAME
    PRIORITY = 1050  # Kong's: after correlation-id/tracing, before the other authentication plugins
    VERSION = "0.1.0"
    CONFIG = OpenIDConnectConfig

    def __init__(self, config: OpenIDConnectConfig, env: PluginEnv, *, instance_id: str | None = None) -> None:
        super().__init__(config, env, instance_id=instance_id)
        state = env.state(NAME)
        http = http_client(env, state, config.ssl_verify)
        provider = provider_for(state, config.discovery_url, config.extra_jwks_uris or (), http, config.ssl_verify)
        self.flows = Authenticator(config, provider)
        self.claim_headers = ClaimHeaders(config.upstream_headers_claims or (), config.upstream_headers_names or ())
        self.token_header: str | None = None
        self.token_prefix = ""
        if config.upstream_access_token_header:
            name, _, scheme = config.upstream_access_token_header.partition(":")
            self.token_header, self.token_prefix = name, ("Bearer " if scheme else "")
        self.token_in_authorization = (self.token_header or "").lower() == "authorization"
        self.consumer_path = tuple(config.consumer_claim) if config.consumer_claim else None
        self.scopes_path = tuple(config.scopes_claim)
        self.groups_path = tuple(config.groups_claim)
        self.query_names = tuple(name for name, types in (
            (credentials.ACCESS_TOKEN, self.flows.bearer_types), (credentials.CLIENT_ID, self.flows.client_types))
            if "query" in types)
        self.reuse: TTLCache[Prepared] | None = TTLCache() if "header" in (
            self.flows.bearer_types | self.flows.client_types) else None

    async def access(self, ctx: Context) -> None:
        config, request, reuse = self.config, ctx.request, self.reuse
        authorization, authorizations, forged = self._scan(request.headers)
        key = None
        if reuse is not None and authorization is not None:
            key = credentials.header_key(authorization, request.query_string, self.query_names)
        now = time.time()
        prepared = reuse.get(key, now) if key is not None and reuse is not None else None
        if prepared is None:
            try:
                outcome = await self.flows.authenticate(request)
                prepared = self._prepare(ctx, outcome)
            except UnsafeClaimValue as exc:
                raise to_exit(InvalidToken(f"{exc}: it cannot be sent upstream"),
                              config.unauthorized_error_message, config.forbidden_error_message) from None
            except OIDCError as exc:
                raise to_exit(exc, config.unauthorized_error_message, config.forbidden_error_message) from None
            until = outcome.reusable_until
            if reuse is not None and key is not None and until is not None and outcome.credentials.source == "header":
                reuse.put(key, prepared, until, now)
        self._apply(ctx, request, prepared, forged,
                    unchanged=authorizations == 1 and authorization == prepared.token_value)

    def _scan(self, headers: Headers) -> tuple[str | None, int, list[str]]:
        """One pass over the request headers: the (first) Authorization value, how many there are, and the
        client's headers that would pass for claim headers."""
        authorization, count, forged = None, 0, []
        claim_headers = self.claim_headers if self.claim_headers else None
        for name, value in headers:
            lower = name.lower()
            if lower == "authorization":
                count += 1
                if authorization is None:
                    authorization = value
            elif claim_headers is not None and claim_headers.forged(lower):
                forged.append(name)
        return authorization, count, forged

    def _prepare(self, ctx: Context, outcome: Outcome) -> Prepared:
        """Claim headers, consumer and identity for an accepted outcome; raises OIDCError or UnsafeClaimValue."""
        claims = outcome.claims
        client_id = claims.get("client_id") or claims.get("azp") or claims.get("cid")
        if client_id is None and isinstance(outcome.credentials, credentials.ClientCredentials):
            client_id = outcome.credentials.client_id
        subject = claims.get("sub")
        return Prepared(
            outcome=outcome,
            claim_headers=tuple(self.claim_headers.values(claims)) if self.claim_headers else (),
            token_value=self.token_prefix + outcome.token,
            consumer=self._consumer(ctx, claims),
            credential={"id": claims.get("sub") or claims.get("client_id"), "issuer": claims.get("iss"),
                        "method": outcome.method},
            subject=subject if isinstance(subject, str) else None,
            client_id=client_id if isinstance(client_id, str) else None,
            scopes=tuple(sorted(claim_values(claim_at(claims, self.scopes_path)))),
            groups=tuple(sorted(claim_values(claim_at(claims, self.groups_path)))),
            source=f"{NAME}:{outcome.method}",
        )

    def _consumer(self, ctx: Context, claims: dict[str, Any]) -> Consumer | None:
        """The consumer named by `consumer_claim` (Kong's consumer mapping), or None if not configured."""
        if self.consumer_path is None:
            return None
        value = claim_at(claims, self.consumer_path)
        if isinstance(value, str) and value:
            for field in self.config.consumer_by:
                consumer = ctx.consumers.find(field, value)
                if consumer is not None:
                    return consumer
        if self.config.consumer_optional:
            return None
        raise InsufficientScope("no consumer matches the token")

    def _apply(self, ctx: Context, request: Request, prepared: Prepared, forged: list[str], *,
               unchanged: bool) -> None:
        """Edit the upstream request and attach the identity (per request: the request is new each time).

        `unchanged`: the request's single Authorization header already is what the upstream should get
        (a bearer token passed on as is), so it is left alone.
        """
        outcome = prepared.outcome
        headers = request.headers
        if self.config.hide_credentials:
            credentials.hide(request, outcome.credentials)
            unchanged = False
        for name in forged:
            headers.remove(name)
        for name, value in prepared.claim_headers:
            headers.add(name, value)
        if self.token_header is not None and not (unchanged and self.token_in_authorization):
            headers.set(self.token_header, prepared.token_value)
        ctx.authenticate(prepared.consumer, prepared.credential, Identity(
            subject=prepared.subject, client_id=prepared.client_id, scopes=prepared.scopes, groups=prepared.groups,
            claims=prepared.outcome.claims, source=prepared.source))
