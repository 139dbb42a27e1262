"""The openid-connect plugin's handler (Kong's `handler.lua`): authenticate in `access`, then shape
the upstream request.

The work lives beside it: `flows` (bearer, introspection, client credentials), `browser` (sign-in,
sessions, refresh and logout), `consumers` (consumer, consumer groups, credential, anonymous),
`discovery`, `cache`, `cluster_cache`, `attempts`, `credentials`, `verify`, `authorization`, `headers`,
`errors`. Per-process state (providers, their caches, the HTTP client) sits
in `PluginEnv.state("openid-connect")`, so it survives new configurations; everything derived from this
instance's config is computed here, once.

Hot path: what a successful request led to (claim headers in wire form, consumer, identity) is kept
per instance, keyed by its Authorization header (see credentials.header_key), until the token or cached
token behind it expires. A repeat request then costs a header lookup, a dict probe and the header edits.
The identity's `claims` and the credential dict are shared between requests with the same token:
later plugins read them, they must not change them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

from oidcgate import __version__
from oidcgate.config.entities import Consumer, ConsumerGroup
from oidcgate.plugins.base import Plugin
from oidcgate.plugins.openid_connect import credentials
from oidcgate.plugins.openid_connect.authorization import claim_at, claim_values
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
from oidcgate.plugins.openid_connect.transport import http_client
from oidcgate.plugins.pdk import Context, Headers, Identity, Known, PluginEnv, RawRequest, encode_field

NAME = "openid-connect"


@dataclass(frozen=True, slots=True)
class Prepared:
    """What one accepted set of credentials means for the upstream request, computed once."""

    outcome: Outcome
    claim_fields: tuple[bytes, ...]  # the claim headers, in wire form (pdk.encode_field)
    token_value: str
    token_raw: bytes  # token_value as it goes on the wire
    known: Known | None  # the shortcut's answer (see OpenIDConnectHandler.shortcut)
    consumer: Consumer | None
    credential: dict[str, Any]
    identity: Identity  # shared by the requests that reuse this: later plugins read it, never change it
    session_fields: tuple[bytes, ...] = ()  # a session's ID token and userinfo headers, in wire form
    consumer_groups: tuple[ConsumerGroup, ...] | None = None  # from consumer_groups_claim (None: the consumer's)


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
        self.query_needles: tuple[str, ...] = (*self.query_names, "%") if self.query_names else ()
        self.reuse: TTLCache[Prepared] | None = TTLCache() if "header" in (
            self.flows.bearer_types | self.flows.client_types) else None
        # The shortcut answers when forwarding needs no more than claim headers and the Authorization value.
        self.shortcut_ok = self.reuse is not None and not self.hide_credentials and (
            self.token_header is None or self.token_in_authorization)
        self.raw_query_needles = tuple(needle.encode() for needle in self.query_needles)
        self.browser = BrowserSignIn(config, self.flows, env, state) if config.browser_sign_in else None
        self.session_headers = tuple(name for name in (config.upstream_id_token_header,
                                                       config.upstream_user_info_header) if name)
        self.session_reuse: TTLCache[Prepared] = TTLCache()  # (session id, version) → what it leads to
        if self.browser is not None and (self.browser.logout_rule is not None or self.session_headers):
            self.shortcut_ok = False  # the full path may log out, or remove a forged session header

    def shortcut(self, request: RawRequest) -> Known | None:
        """A repeat request gets the answer its first one led to: same single Authorization header, and
        nothing else that could carry credentials (the query) or pass for a claim header."""
        authorization = request.authorization
        if authorization is None or not self.shortcut_ok:
            return None
        if request.query and credentials.query_may_hold(request.query, self.raw_query_needles):
            return None
        if self.claims_to_headers and self.claim_headers.may_be_forged(request.fields):
            return None
        entry = self.reuse.entry(credentials.header_key(authorization), self.clock())  # type: ignore[union-attr]
        return None if entry is None else entry[1].known

    async def access(self, ctx: Context) -> None:
        """Reuse what the same Authorization header led to before, else authenticate; then edit the request.

        This is the hot path: a repeat request costs a header lookup, a dict probe and the header edits.
        """
        request = ctx.request
        headers = request.headers
        if self.mapping.anonymous is not None and ctx.credential is not None:
            return  # Kong: with `anonymous`, authentication plugins are alternatives, and one succeeded
        if self.browser is not None and await self.browser.is_logout(request):
            raise await self.browser.logout(ctx)
        authorization = headers.single("authorization")  # (two are resolved by the full path)
        key = prepared = None
        reuse = self.reuse
        if authorization is not None and reuse is not None and not (
                self.query_needles and credentials.query_may_hold(request.query_string, self.query_needles)):
            key = credentials.header_key(authorization)
            prepared = reuse.get(key, self.clock())
        if prepared is None:
            prepared = await self._authenticate(ctx, key, authorization)
            if prepared is None:
                return self._anonymous(ctx)
        if self.hide_credentials:
            if prepared.outcome.method == "session":
                self.browser.hide(request)  # type: ignore[union-attr]
            else:
                credentials.hide(request, prepared.outcome.credentials)
            unchanged = False
        else:  # a bearer token passed on as it came needs no edit
            unchanged = authorization == prepared.token_raw
        self._remove_forged(headers)
        if self.claims_to_headers:
            headers.add_fields(prepared.claim_fields)
        if prepared.session_fields:
            headers.add_fields(prepared.session_fields)
        if self.token_header is not None and not (unchanged and self.token_in_authorization):
            headers.set(self.token_header, prepared.token_value)
        ctx.authenticate(prepared.consumer, prepared.credential, prepared.identity)
        if prepared.consumer_groups is not None:
            ctx.set_consumer_groups(prepared.consumer_groups)

    def _remove_forged(self, headers: Headers) -> None:
        """The client's own claim and session headers never pass: only the gateway's are set."""
        if self.claims_to_headers:
            for name in self.claim_headers.forged(headers.keys()):
                headers.remove(name)
        for name in self.session_headers:
            headers.remove(name)

    def _anonymous(self, ctx: Context) -> None:
        """Kong's `anonymous`: the request goes on as that consumer, without a credential (upstream:
        `X-Anonymous-Consumer: true`), and without anything the client sent passing for the gateway's."""
        headers = ctx.request.headers
        self._remove_forged(headers)
        if self.hide_credentials:
            headers.remove("authorization")
        try:
            consumer = self.mapping.anonymous_consumer(ctx.consumers)
        except OIDCError as exc:
            raise to_exit(exc, self.config.unauthorized_error_message, self.config.forbidden_error_message) from None
        ctx.authenticate(consumer, None, None)

    async def _authenticate(self, ctx: Context, key: bytes | None, authorization: bytes | None) -> Prepared | None:
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
                prepared = self._prepare(ctx, outcome, authorization)
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
        groups and roles apply to it as to a bearer token (403)."""
        session = signed.session
        key = (session.id, session.version)
        now = self.clock()
        prepared = self.session_reuse.get(key, now)
        if prepared is None:
            self.flows.authorize(session.claims, "session")
            prepared = self._prepare(ctx, signed.outcome, None)
            extra: list[bytes] = []
            if self.config.upstream_id_token_header and session.id_token:
                extra += encode_field(self.config.upstream_id_token_header.replace("_", "-"), session.id_token)
            if self.config.upstream_user_info_header and session.userinfo is not None:
                extra += encode_field(self.config.upstream_user_info_header.replace("_", "-"),
                                      userinfo_header(session.userinfo))
            prepared = replace(prepared, session_fields=tuple(extra))
            self.session_reuse.put(key, prepared, signed.outcome.reusable_until or now, now)
        return prepared

    def _prepare(self, ctx: Context, outcome: Outcome, authorization: bytes | None) -> Prepared:
        """Claim headers, consumer and identity for an accepted outcome, and the shortcut's answer for the
        requests with the same `authorization`; raises OIDCError or UnsafeClaimValue."""
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
        known = None
        if self.shortcut_ok and authorization is not None:
            replace = None  # (as `access` decides: the token header is Authorization, or none)
            if self.token_header is not None and authorization != token_raw:
                replace = encode_field(self.token_header, token_value)
            known = Known(tuple(claim_fields), replace, consumer, credential)
        return Prepared(
            outcome=outcome,
            claim_fields=tuple(claim_fields),
            token_value=token_value,
            token_raw=token_raw,
            known=known,
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
        )

    def _authenticated_groups(self, claims: dict[str, Any]) -> tuple[str, ...] | None:
        """Kong's `authenticated_groups_claim`: None when unset or when the token has no such claim."""
        if self.authenticated_groups_path is None:
            return None
        value = claim_at(claims, self.authenticated_groups_path)
        return None if value is None else tuple(sorted(claim_values(value)))
