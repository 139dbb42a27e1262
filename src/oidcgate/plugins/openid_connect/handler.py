"""The openid-connect plugin's handler (Kong's `handler.lua`): authenticate in `access`, then shape
the upstream request.

The work lives beside it: `flows` (bearer, introspection, client credentials), `browser` (sign-in,
sessions, refresh and logout), `consumers` (consumer, consumer groups, credential, anonymous),
`discovery`, `cache`, `cluster_cache`, `attempts`, `credentials`, `authorization`, `headers`, `errors`;
JWTs are verified by `oidcgate.jwt`, shared with `oidcgate token decode`. Per-process state
(providers, their caches, the HTTP client) sits in `PluginEnv.state("openid-connect")`, so it survives
new configurations; everything derived from this instance's config is computed here, once.

Hot path: the plugin declares what its decision depends on (`memo_inputs`: the Authorization header,
the cookie of a session, where else credentials may be) and how long a decision holds
(`ctx.reuse_until`: until the token, the cached token or the session's next renewal is due), so the
engine replays a repeat request's header edits and consumer without calling `access`. Behind that,
what a successful request led to (claim headers in wire form, consumer, identity) is kept per instance,
keyed by its Authorization header (see credentials.header_key) or by its session, for the requests the
engine cannot replay (e.g. credentials in a query). The identity's `claims` and the credential dict are
shared between requests with the same token: later plugins read them, they must not change them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from oidcgate import __version__
from oidcgate.config.entities import Consumer, ConsumerGroup
from oidcgate.http import querystring
from oidcgate.jwt.claims import claim_at, claim_values
from oidcgate.plugins.base import Plugin
from oidcgate.plugins.openid_connect import credentials
from oidcgate.plugins.openid_connect.browser import BrowserSignIn, Signed, userinfo_header
from oidcgate.plugins.openid_connect.cache import TTLCache
from oidcgate.plugins.openid_connect.consumers import Mapping
from oidcgate.plugins.openid_connect.discovery import provider_for
from oidcgate.plugins.openid_connect.errors import (
    InvalidToken,
    MissingCredentials,
    OIDCError,
    to_exit,
)
from oidcgate.plugins.openid_connect.flows import Authenticator, Clock, Outcome
from oidcgate.plugins.openid_connect.headers import ClaimHeaders, UnsafeClaimValue
from oidcgate.plugins.openid_connect.schema import OpenIDConnectConfig
from oidcgate.plugins.openid_connect.session import cookies
from oidcgate.plugins.openid_connect.transport import http_client
from oidcgate.plugins.pdk import Context, Headers, Identity, MemoInputs, PluginEnv, encode_field

NAME = "openid-connect"


@dataclass(frozen=True, slots=True)
class Prepared:
    """What one accepted set of credentials means for the upstream request, computed once."""

    outcome: Outcome
    claim_fields: tuple[bytes, ...]  # the claim headers, in wire form (pdk.encode_field)
    token_value: str
    token_raw: bytes  # token_value as it goes on the wire
    consumer: Consumer | None
    credential: dict[str, Any]
    identity: Identity  # shared by the requests that reuse this: later plugins read it, never change it
    session_fields: tuple[bytes, ...] = ()  # a session's ID token and userinfo headers, in wire form
    consumer_groups: tuple[ConsumerGroup, ...] | None = None  # from consumer_groups_claim (None: the consumer's)
    reusable_until: float | None = None  # what `access` did holds for the same inputs until then (see memo_inputs)
    still: Callable[[], bool] | None = None  # and while this says so (a session's copy in this worker)


class OpenIDConnectHandler(Plugin[OpenIDConnectConfig]):
    NAME = NAME
    PRIORITY = 1050  # Kong's: after correlation-id/tracing, before the other authentication plugins
    VERSION = __version__
    CONFIG = OpenIDConnectConfig

    def __init__(self, config: OpenIDConnectConfig, env: PluginEnv, *, instance_id: str | None = None,
                 clock: Clock = time.time) -> None:
        super().__init__(config, env, instance_id=instance_id)
        state = env.state(NAME)
        http = http_client(env, state, config.ssl_verify)
        provider = provider_for(state, config.discovery_url, config.extra_jwks_uris or (), http, config.ssl_verify)
        self.flows = Authenticator(config, provider, clock)
        self.clock = clock
        self.claim_headers = ClaimHeaders(config.upstream_headers_claims or (), config.upstream_headers_names or ())
        self.claims_to_headers = bool(self.claim_headers)
        self.hide_credentials = config.hide_credentials
        self.token_header: str | None = None
        self.token_prefix = ""
        if config.upstream_access_token_header:
            name, _, scheme = config.upstream_access_token_header.partition(":")
            self.token_header, self.token_prefix = name, ("Bearer " if scheme else "")
        self.token_in_authorization = (self.token_header or "").lower() == "authorization"
        self.mapping = Mapping(config)
        self.scopes_path = tuple(config.scopes_claim)
        self.groups_path = tuple(config.groups_claim)
        self.authenticated_groups_path = tuple(config.authenticated_groups_claim or ()) or None
        self.query_names = tuple(name for name, types in (
            (credentials.ACCESS_TOKEN, self.flows.bearer_types), (credentials.CLIENT_ID, self.flows.client_types))
            if "query" in types)
        self.query_needles = querystring.needles(self.query_names) if self.query_names else ()
        self.reuse: TTLCache[Prepared] | None = TTLCache() if "header" in (
            self.flows.bearer_types | self.flows.client_types) else None
        self.claim_names = tuple(config.upstream_headers_names or ())
        self.browser = BrowserSignIn(config, self.flows, env, state) if config.browser_sign_in else None
        self.session_headers = tuple(name for name in (config.upstream_id_token_header,
                                                       config.upstream_user_info_header) if name)
        self.session_reuse: TTLCache[Prepared] = TTLCache()  # (session id, version) → what it leads to

    def memo_inputs(self) -> MemoInputs:
        """What `access` decides on: the Authorization header (and a session's cookie), the query arguments
        credentials may be in, and on a sign-in route those of a callback and a logout (any other query,
        `/app?page=2`, is decided as `/app` is), the method and path a logout rule looks at, the body when
        credentials or a logout may be in it, and with `anonymous` whether an earlier authentication
        plugin succeeded."""
        types = self.flows.bearer_types | self.flows.client_types
        rule = self.browser.logout_rule if self.browser is not None else None
        credential_args = (*self.query_names, credentials.CLIENT_SECRET) if self.query_names else ()
        browser_args = self.browser.query_names if self.browser is not None else ()
        return MemoInputs(
            headers=("authorization", "cookie") if self.browser is not None else ("authorization",),
            query_args=tuple(dict.fromkeys((*credential_args, *browser_args))), method=rule is not None,
            path=rule is not None and rule.suffix is not None,
            body="body" in types or (rule is not None and rule.post_arg is not None),
            who=self.mapping.anonymous is not None, clock=self.clock)  # (with `anonymous`: did one succeed?)

    async def access(self, ctx: Context) -> None:
        """Reuse what the same Authorization header led to before, else authenticate; then edit what goes
        upstream, and tell the engine how long this decision holds (see memo_inputs)."""
        request = ctx.request
        if self.mapping.anonymous is not None and ctx.credential is not None:
            return  # Kong: with `anonymous`, authentication plugins are alternatives, and one succeeded
        if self.browser is not None and await self.browser.is_logout(request):
            raise await self.browser.logout(ctx)
        authorization = request.headers.single("authorization")  # (two are resolved by the full path)
        key = prepared = None
        reuse = self.reuse
        if authorization is not None and reuse is not None and not (
                self.query_needles and querystring.may_hold(request.query_string, self.query_needles)):
            key = credentials.header_key(authorization)
            prepared = reuse.get(key, self.clock())
        if prepared is None:
            prepared = await self._authenticate(ctx, key)
            if prepared is None:
                return self._anonymous(ctx)
        self._edit(ctx, prepared, authorization)
        ctx.authenticate(prepared.consumer, prepared.credential, prepared.identity)
        if prepared.consumer_groups is not None:
            ctx.set_consumer_groups(prepared.consumer_groups)
        if prepared.reusable_until is not None:
            ctx.reuse_until(prepared.reusable_until, prepared.still)

    def _edit(self, ctx: Context, prepared: Prepared, authorization: bytes | None) -> None:
        """What goes upstream: credentials hidden, claim and session headers (the client's own copies of
        those names never pass), the access token header."""
        upstream = ctx.service_request
        headers = upstream.headers
        if self.hide_credentials:
            if prepared.outcome.method == "session":
                self.browser.hide(ctx.request, upstream)  # type: ignore[union-attr]
            else:
                credentials.hide(upstream, prepared.outcome.credentials)
            unchanged = False
        else:  # a bearer token passed on as it came needs no edit
            unchanged = authorization == prepared.token_raw
        self._remove_forged(headers)
        if self.claims_to_headers:
            headers.extend(prepared.claim_fields)
        if prepared.session_fields:
            headers.extend(prepared.session_fields)
        if self.token_header is not None and not (unchanged and self.token_in_authorization):
            headers.set(self.token_header, prepared.token_value)

    def _remove_forged(self, headers: Headers) -> None:
        """The client's own claim and session headers never pass (whatever their case, `_` or `-`): only
        the gateway's are set."""
        if self.claims_to_headers:
            headers.remove_like(self.claim_names)
        if self.session_headers:
            headers.remove_like(self.session_headers)

    def _anonymous(self, ctx: Context) -> None:
        """Kong's `anonymous`: the request goes on as that consumer, without a credential (upstream:
        `X-Anonymous-Consumer: true`), and without anything the client sent passing for the gateway's."""
        headers = ctx.service_request.headers
        self._remove_forged(headers)
        if self.hide_credentials:
            headers.remove("authorization")
        try:
            consumer = self.mapping.anonymous_consumer(ctx.consumers)
        except OIDCError as exc:
            raise to_exit(exc, self.config.unauthorized_error_message, self.config.forbidden_error_message) from None
        ctx.authenticate(consumer, None, None)

    async def _authenticate(self, ctx: Context, key: bytes | None) -> Prepared | None:
        """The full path: find, verify and authorize the credentials; remember the outcome under `key`.
        None: refused (401 or 403), and `anonymous` is configured."""
        config = self.config
        try:
            try:
                try:
                    outcome = await self.flows.authenticate(ctx.request)
                except MissingCredentials:
                    if self.browser is None:
                        raise
                    return self._session(ctx, await self.browser.authenticate(ctx))
                prepared = self._prepare(ctx, outcome)
            except UnsafeClaimValue as exc:
                raise InvalidToken(f"{exc}: it cannot be sent upstream") from None
        except OIDCError as exc:
            if self.mapping.anonymous is not None and exc.status in (401, 403):
                return None
            raise to_exit(exc, config.unauthorized_error_message, config.forbidden_error_message) from None
        until = outcome.reusable_until
        if self.reuse is not None and key is not None and until is not None and outcome.credentials.source == "header":
            self.reuse.put(key, prepared, until, self.clock())
        return prepared

    def _session(self, ctx: Context, signed: Signed) -> Prepared:
        """What a session request leads to, computed once per session version; the route's scopes,
        groups and roles apply to it as to a bearer token (403). The same cookie leads to the same decision
        while this worker's copy of the session answers for it (see session.storage: until its idle clock
        is due for renewal or its token for a refresh, and for a session in Redis no longer than a change
        elsewhere, a logout, takes to reach this worker)."""
        session = signed.session
        key = (session.id, session.version)
        now = self.clock()
        prepared = self.session_reuse.get(key, now)
        if prepared is None:
            self.flows.authorize(session.claims, "session")
            prepared = self._prepare(ctx, signed.outcome)
            extra: list[bytes] = []
            if self.config.upstream_id_token_header and session.id_token:
                extra += encode_field(self.config.upstream_id_token_header.replace("_", "-"), session.id_token)
            if self.config.upstream_user_info_header and session.userinfo is not None:
                extra += encode_field(self.config.upstream_user_info_header.replace("_", "-"),
                                      userinfo_header(session.userinfo))
            prepared = replace(prepared, session_fields=tuple(extra))
            self.session_reuse.put(key, prepared, signed.outcome.reusable_until or now, now)
        browser = self.browser
        value = browser.session_cookie.read(cookies.parse(ctx.request.headers.get_all("cookie"))) if browser else None
        if browser is None or value is None or browser.storage.cached(value, now) is not session:
            return prepared  # (a session just renewed or loaded past its copy's life: the full path again)
        return replace(prepared, reusable_until=browser.storage.keep_until(session),
                       still=browser.storage.still_cached(value, session, self.clock))

    def _prepare(self, ctx: Context, outcome: Outcome) -> Prepared:
        """Claim headers, consumer and identity for an accepted outcome; raises OIDCError or UnsafeClaimValue."""
        claims = outcome.claims
        client_id = claims.get("client_id") or claims.get("azp") or claims.get("cid")
        if client_id is None and isinstance(outcome.credentials, credentials.ClientCredentials):
            client_id = outcome.credentials.client_id
        subject = claims.get("sub")
        claim_fields: list[bytes] = []
        for name, value in self.claim_headers.values(claims) if self.claim_headers else ():
            claim_fields += encode_field(name, value)
        token_value = self.token_prefix + outcome.token
        token_raw = token_value.encode("latin-1")
        consumer = self.mapping.consumer(ctx.consumers, claims)
        credential = self.mapping.credential(claims, outcome.method)
        return Prepared(
            outcome=outcome,
            claim_fields=tuple(claim_fields),
            token_value=token_value,
            token_raw=token_raw,
            consumer=consumer,
            credential=credential,
            identity=Identity(
                subject=subject if isinstance(subject, str) else None,
                client_id=client_id if isinstance(client_id, str) else None,
                scopes=tuple(sorted(claim_values(claim_at(claims, self.scopes_path)))),
                groups=tuple(sorted(claim_values(claim_at(claims, self.groups_path)))),
                authenticated_groups=self._authenticated_groups(claims),
                claims=claims, source=f"{NAME}:{outcome.method}"),
            consumer_groups=self.mapping.groups(ctx.consumers, claims),
            reusable_until=outcome.reusable_until if outcome.credentials.source == "header" else None,
        )

    def _authenticated_groups(self, claims: dict[str, Any]) -> tuple[str, ...] | None:
        """Kong's `authenticated_groups_claim`: None when unset or when the token has no such claim."""
        if self.authenticated_groups_path is None:
            return None
        value = claim_at(claims, self.authenticated_groups_path)
        return None if value is None else tuple(sorted(claim_values(value)))
