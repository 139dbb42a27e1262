"""Browser sign-in at the gateway: the `authorization_code` and `session` methods, refresh and logout.

One request, in order (each step returns or raises; nothing loops):
1. a logout request (`logout.LogoutRule`) ends the session wherever it is stored, revokes its tokens
   when asked, clears the cookies and sends the browser to the provider's end_session_endpoint, to
   `logout_redirect_uri`, or answers 200;
2. a callback (`code` + `state`, or `error`) is judged against the authorization cookie, the code is
   redeemed, the ID token verified in full, a new session (new id) is stored and the browser goes
   back to the URL it first asked for; any failure is a 401/403/502 page, never a redirect;
3. a valid session lets the request through: its access token is refreshed first when it expires
   within `leeway` (one refresh per session at a time, and the session read again under the lock:
   another request may have refreshed it meanwhile), its idle clock renewed now and then;
4. anything else is sent to sign in (302 to the authorization endpoint), or refused with 401 when
   the route only accepts existing sessions.

Where the upstream's claims come from: the verified access token's claims when it is a JWT, over those
of the ID token (so `groups`, `scope` and `aud` are the access token's when it has them).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from typing import Any

import orjson

from oidcgate.http import querystring
from oidcgate.jwt.errors import TokenError, UnknownKey
from oidcgate.jwt.verify import check_claims, looks_like_jwt, verify_signature
from oidcgate.plugins.openid_connect import authcode, logout, token_endpoint
from oidcgate.plugins.openid_connect.authcode import SignInFailed
from oidcgate.plugins.openid_connect.client_auth import ClientAuth, secret_method
from oidcgate.plugins.openid_connect.credentials import BearerToken
from oidcgate.plugins.openid_connect.discovery import Loaded
from oidcgate.plugins.openid_connect.errors import (
    InvalidToken,
    MissingCredentials,
    ProviderUnavailable,
)
from oidcgate.plugins.openid_connect.flows import Authenticator, Outcome
from oidcgate.plugins.openid_connect.schema import OpenIDConnectConfig
from oidcgate.plugins.openid_connect.session import cookies
from oidcgate.plugins.openid_connect.session.codec import Sealer
from oidcgate.plugins.openid_connect.session.cookies import CookieSpec
from oidcgate.plugins.openid_connect.session.record import Session, Timeouts, new_id
from oidcgate.plugins.openid_connect.session.secret import node_secret
from oidcgate.plugins.openid_connect.session.storage import CookieStorage, RedisStorage, Storage
from oidcgate.plugins.pdk import Context, PluginEnv, PluginExit, Request, ServiceRequest
from oidcgate.shared_state import RedisUnavailable, close_pools

log = logging.getLogger("oidcgate.plugins.openid_connect")
DEFAULT_TOKEN_LIFETIME = 300.0  # an access token whose lifetime nobody states is refreshed after this
_CALLBACK_NEEDLES = querystring.needles(authcode.CALLBACK_ARGS)  # (what a query holding a callback holds)


@dataclass(frozen=True, slots=True)
class Signed:
    """A request with a valid session: the outcome for the upstream, and the session it came from."""

    outcome: Outcome
    session: Session


class BrowserSignIn:
    """The browser methods for one plugin configuration (compiled once per plugin instance)."""

    def __init__(self, config: OpenIDConnectConfig, flows: Authenticator, env: PluginEnv,
                 state: dict[str, Any]) -> None:
        self.config = config
        self.flows = flows
        self.clock = flows.clock
        secret = config.session_secret or node_secret(env, state)
        self.storage: Storage = (
            RedisStorage(secret, config.session_cookie_name, config.redis, self._keep_until)
            if config.session_storage == "redis" else
            CookieStorage(secret, config.session_cookie_name, self._keep_until))
        if config.session_storage == "redis" and not state.get("closes_shared_state"):
            state["closes_shared_state"] = True  # once per process: the pools and subscriptions go at shutdown
            env.on_close(close_pools)
        self.session_cookie = CookieSpec(config.session_cookie_name, config.session_cookie_path,
                                         config.session_cookie_domain, config.session_cookie_same_site,
                                         config.session_cookie_http_only, config.session_cookie_secure)
        self.auth_cookie = CookieSpec(config.authorization_cookie_name, config.authorization_cookie_path,
                                      config.authorization_cookie_domain, config.authorization_cookie_same_site,
                                      config.authorization_cookie_http_only, config.authorization_cookie_secure)
        self.pending = Sealer(secret, "authorization", config.authorization_cookie_name)
        self.timeouts = Timeouts(config.session_idling_timeout, config.session_rolling_timeout,
                                 config.session_absolute_timeout)
        methods = set(config.auth_methods)
        self.code_flow = "authorization_code" in methods
        self.may_refresh = config.refresh_tokens and "refresh_token" in methods
        self.logout_rule = logout.LogoutRule.of(config)
        # the query arguments a decision here depends on (a callback's, a logout's); any others are the app's
        self.query_names = (*(authcode.CALLBACK_ARGS if self.code_flow else ()),
                            *((self.logout_rule.query_arg,) if self.logout_rule and self.logout_rule.query_arg else ()))
        self.client_id = config.client_id[0] if config.client_id else ""
        self.extra_args = tuple(zip(config.authorization_query_args_names or (),
                                    config.authorization_query_args_values or (), strict=True))
        self.leeway = config.leeway
        self.timeout = config.timeout / 1000
        self.detached: set[asyncio.Task[Any]] = set()  # refreshes whose request left (see _refreshed)

    # ---- the request ---------------------------------------------------------------------------------

    async def is_logout(self, request: Request) -> bool:
        return self.logout_rule is not None and await self.logout_rule.matches(request)

    async def authenticate(self, ctx: Context) -> Signed:
        """The session behind this request (steps 2-4 of the module doc); raises PluginExit or OIDCError.

        A session this worker has a copy of (see session.storage: nothing is due before `_keep_until`) is
        answered here without waiting; the rest runs in a task of its own (the plugin's first steps run
        outside one, and the provider and Redis calls bound themselves with `asyncio.timeout`, which
        needs a task)."""
        request = ctx.request
        if not (self.code_flow and querystring.may_hold(request.query_string, _CALLBACK_NEEDLES)):
            value = self.session_cookie.read(cookies.parse(request.headers.get_all("cookie")))
            now = self.clock()
            session = self.storage.cached(value, now) if value is not None else None
            if session is not None:
                return Signed(self._outcome(session, now), session)
        return await asyncio.ensure_future(self._authenticate(ctx))

    async def _authenticate(self, ctx: Context) -> Signed:
        request = ctx.request
        now = self.clock()
        jar = cookies.parse(request.headers.get_all("cookie"))
        https = request.scheme == "https"
        try:
            if self.code_flow and request.query_string:
                callback = authcode.callback_of(request.query)
                if callback is not None:
                    raise await self._callback(ctx, callback, jar, https, now)
            value = self.session_cookie.read(jar)
            session = await self._load(value, now) if value is not None else None
            if session is None or value is None:
                if not self.code_flow:
                    raise MissingCredentials("no session")
                raise await self._sign_in(ctx, jar, https, now)
            if self._expiring(session, now):
                session = await self._to_the_end(self._refreshed(ctx, session, value, jar, https))
            elif self.timeouts.idle and session.touch_due(self.timeouts, now):
                session = session.touched(now)
                await self._store(ctx, session, jar, https, now, replacing=value)
        except SignInFailed as exc:
            raise self._refusal(exc) from None
        except RedisUnavailable as exc:
            log.error("openid-connect: session storage: %s", exc)
            raise PluginExit(503, {"message": "Service Unavailable: the session storage cannot be reached"}) from None
        return Signed(self._outcome(session, now), session)

    async def logout(self, ctx: Context) -> PluginExit:
        """Step 1 of the module doc: the answer to a logout request (in a task: see `authenticate`)."""
        return await asyncio.ensure_future(self._logout(ctx))

    async def _logout(self, ctx: Context) -> PluginExit:
        request = ctx.request
        jar = cookies.parse(request.headers.get_all("cookie"))
        https = request.scheme == "https"
        value = self.session_cookie.read(jar)
        try:
            session = await self._load(value, self.clock()) if value is not None else None
            if session is not None:
                await self.storage.destroy(session, value)
        except RedisUnavailable as exc:  # the session may live on: say so, do not pretend
            log.error("openid-connect: session storage: %s", exc)
            return PluginExit(503, {"message": "Service Unavailable: the session storage cannot be reached, "
                                               "the session was not ended"})
        for header in self.session_cookie.clear(jar, https):
            ctx.add_response_header("Set-Cookie", header)
        loaded = None
        if session is not None:
            try:
                loaded = await self.flows._ready()
            except ProviderUnavailable:
                loaded = None  # the gateway's session is over; the provider's is not reachable now
        if session is not None and loaded is not None and self.config.logout_revoke:
            await self._revoke(session, loaded)
        redirect = self.config.logout_redirect_uri
        end_session = loaded.metadata.end_session_endpoint if loaded is not None else None
        if end_session is not None and session is not None:
            target = logout.end_session_url(end_session, session.id_token, self.client_id, redirect)
            return PluginExit(302, None, {"Location": target, "Cache-Control": "no-store"})
        if redirect is not None:
            return PluginExit(302, None, {"Location": redirect, "Cache-Control": "no-store"})
        return PluginExit(200, {"message": "signed out"}, {"Cache-Control": "no-store"})

    def hide(self, request: Request, upstream: ServiceRequest) -> None:
        """`hide_credentials`: the upstream does not see the session cookie (or its chunks)."""
        jar = cookies.parse(request.headers.get_all("cookie"))
        name = self.session_cookie.name
        kept = [f"{k}={v}" for k, v in jar.items()
                if k != name and not (k.startswith(f"{name}_") and cookies.chunk_number(k[len(name) + 1:]))]
        upstream.headers.remove("cookie")
        if kept:
            upstream.headers.add("Cookie", "; ".join(kept))

    # ---- sessions ------------------------------------------------------------------------------------

    async def _load(self, value: str, now: float, fresh: bool = False) -> Session | None:
        session = await self.storage.load(value, now, fresh)
        if session is None or session.expired(self.timeouts, now) or not self._ours(session):
            return None
        return session

    def _ours(self, session: Session) -> bool:
        """Made by this route's provider and client (not another route's sharing the cookie name)."""
        return session.issuer == self.config.issuer_url and session.client_id == self.client_id

    def _keep_until(self, session: Session) -> float:
        """Until when a worker's copy of `session` may answer without the storage: not past the next
        renewal of its idle clock, the refresh of its access token, or its end; 0 when it is not ours."""
        if not self._ours(session):
            return 0.0
        return min(session.ends_at(self.timeouts), session.seen + self.timeouts.touch_interval,
                   self._refresh_at(session))

    def _refresh_at(self, session: Session) -> float:
        return session.expires_at - self.leeway if session.expires_at is not None else session.renewed + DEFAULT_TOKEN_LIFETIME

    def _expiring(self, session: Session, now: float) -> bool:
        return now >= self._refresh_at(session)

    async def _store(self, ctx: Context, session: Session, jar: dict[str, str], https: bool, now: float,
                     replacing: str | None = None) -> None:
        """Save `session` (renewing the one the cookie `replacing` named) and give the browser its cookie."""
        ttl = session.ends_at(self.timeouts) - now
        value = await self.storage.save(session, ttl, now, replacing)
        for header in self.session_cookie.write(value, int(ttl), https, jar):
            ctx.add_response_header("Set-Cookie", header)

    def _outcome(self, session: Session, now: float) -> Outcome:
        until = min(session.ends_at(self.timeouts), self._refresh_at(session))
        return Outcome("session", session.access_token, session.claims,
                       BearerToken(session.access_token, "session"), until)

    async def _to_the_end(self, work: Coroutine[Any, Any, Session]) -> Session:
        """`work`'s result; it runs to its end even if this request is cancelled (the client left): a
        refresh cut off after the provider rotated the refresh token but before the new one is stored
        would leave the session with a used token, and the next refresh would revoke its family."""
        task = asyncio.ensure_future(work)
        self.detached.add(task)
        task.add_done_callback(self._forget)
        return await asyncio.shield(task)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self.detached.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: once its request has left, nobody else will

    async def _refreshed(self, ctx: Context, session: Session, value: str, jar: dict[str, str],
                         https: bool) -> Session:
        """The session with a fresh access token, its rotated refresh token stored. One refresh per session
        at a time (the storage's lock: across workers and nodes with Redis, per worker with cookies), and
        the session read again under it: a refresh token used twice revokes its whole family."""
        if not self.may_refresh or session.refresh_token is None:
            await self.storage.destroy(session, value)
            raise await self._expired(ctx, jar, https, self.clock())
        async with self.storage.refresh_lock(session, wait=self.timeout) as held:
            now = self.clock()
            current = await self._load(value, now, fresh=True)
            if current is None:  # ended meanwhile (a logout, a refused refresh elsewhere)
                raise await self._expired(ctx, jar, https, now)
            if not self._expiring(current, now):
                return current  # refreshed by another request, worker or node while this one waited
            if not held:
                raise PluginExit(503, {"message": "Service Unavailable: the session is being refreshed, retry"})
            try:
                refreshed = await self._refresh(current)
            except InvalidToken:  # refused (expired, revoked, reused): sign in again
                await self.storage.destroy(current, value)
                raise await self._expired(ctx, jar, https, now) from None
            await self._store(ctx, refreshed, jar, https, self.clock(), replacing=value)
            return refreshed

    async def _refresh(self, session: Session) -> Session:
        loaded = await self.flows._ready()
        issued = await token_endpoint.refresh(self.flows.provider.http, self._token_endpoint(loaded),
                                              self._client(loaded), session.refresh_token or "", self.timeout)
        now = self.clock()
        id_token, id_claims = session.id_token, None
        if issued.id_token is not None:
            id_token, id_claims = issued.id_token, await self._id_claims(issued.id_token, None, now)
        claims = await self._claims(issued.access_token, id_claims or session.claims, now)
        return replace(session, renewed=now, seen=now, access_token=issued.access_token,
                       expires_at=now + issued.expires_in if issued.expires_in else _exp(claims),
                       id_token=id_token, refresh_token=issued.refresh_token or session.refresh_token,
                       claims=claims, version=session.version + 1)

    async def _expired(self, ctx: Context, jar: dict[str, str], https: bool, now: float) -> PluginExit:
        for header in self.session_cookie.clear(jar, https):
            ctx.add_response_header("Set-Cookie", header)
        if self.code_flow:
            return await self._sign_in(ctx, jar, https, now)
        raise MissingCredentials("the session has expired")

    # ---- the code flow -------------------------------------------------------------------------------

    async def _sign_in(self, ctx: Context, jar: dict[str, str], https: bool, now: float) -> PluginExit:
        """302 to the provider, the sign-in remembered in the encrypted authorization cookie."""
        request = ctx.request
        loaded = await self.flows._ready()
        endpoint = loaded.metadata.authorization_endpoint
        if endpoint is None:
            raise ProviderUnavailable("the identity provider has no authorization endpoint")
        pkce = self.config.require_proof_key_for_code_exchange
        if pkce is None:
            pkce = "S256" in loaded.metadata.code_challenge_methods
        url = request.path + (f"?{request.query_string}" if request.query_string else "")
        target, pending = authcode.begin(endpoint, self.client_id, self._redirect_uri(request), self.flows.scopes,
                                         pkce=pkce, extra=self.extra_args, url=url, now=now)
        lifetime = self.config.authorization_rolling_timeout
        for header in self.auth_cookie.write(self.pending.seal(pending.to_bytes()), lifetime, https, jar):
            ctx.add_response_header("Set-Cookie", header)
        return PluginExit(302, None, {"Location": target, "Cache-Control": "no-store"})

    def _redirect_uri(self, request: Request) -> str:
        if self.config.redirect_uri:
            return self.config.redirect_uri[0]
        host = request.headers.get("host") or request.host
        return f"{request.scheme}://{host}{request.path}"

    async def _callback(self, ctx: Context, callback: authcode.Callback, jar: dict[str, str], https: bool,
                        now: float) -> PluginExit:
        """Judge the callback, redeem the code, verify the ID token, store a new session, go back."""
        sealed = self.auth_cookie.read(jar)
        data = self.pending.open(sealed) if sealed is not None else None
        pending = authcode.Pending.from_bytes(data) if data is not None else None
        for header in self.auth_cookie.clear(jar, https):  # one callback per sign-in, whatever happens
            ctx.add_response_header("Set-Cookie", header)
        code = authcode.check_callback(callback, pending, now, self.config.authorization_rolling_timeout)
        assert pending is not None
        loaded = await self.flows._ready()
        try:
            issued = await token_endpoint.authorization_code(
                self.flows.provider.http, self._token_endpoint(loaded), self._client(loaded), code,
                pending.redirect_uri, pending.verifier, self.timeout)
        except InvalidToken as exc:
            raise SignInFailed(exc.description) from None
        if issued.id_token is None:
            raise SignInFailed("the identity provider returned no ID token (is openid in scopes?)")
        now = self.clock()
        id_claims = await self._id_claims(issued.id_token, pending.nonce, now)
        claims = await self._claims(issued.access_token, id_claims, now)
        session = Session(id=new_id(), issuer=self.config.issuer_url, client_id=self.client_id, created=now,
                          renewed=now, seen=now, access_token=issued.access_token,
                          expires_at=now + issued.expires_in if issued.expires_in else _exp(claims),
                          id_token=issued.id_token, refresh_token=issued.refresh_token, claims=claims,
                          userinfo=await self._userinfo(issued.access_token, loaded))
        await self._store(ctx, session, jar, https, now)
        return PluginExit(302, None, {"Location": pending.url, "Cache-Control": "no-store"})

    async def _id_claims(self, id_token: str, nonce: str | None, now: float) -> dict[str, Any]:
        """The claims of an ID token verified in full (signature against the JWKS, then OIDC §3.1.3.7)."""
        try:
            claims = verify_signature(id_token, (await self.flows._ready()).ring).claims
        except UnknownKey:
            if not await self.flows.provider.rediscover(self.config.rediscovery_lifetime, self.timeout):
                raise SignInFailed("the ID token is signed with an unknown key") from None
            try:
                claims = verify_signature(id_token, (await self.flows._ready()).ring).claims
            except TokenError as exc:
                raise SignInFailed(exc.description.replace("the token", "the ID token")) from None
        except TokenError as exc:
            raise SignInFailed(exc.description.replace("the token", "the ID token")) from None
        policy = self.flows._claim_policy()
        authcode.check_id_token(claims, issuers=policy.issuers or frozenset(), client_id=self.client_id,
                                nonce=nonce, leeway=self.leeway, now=now)
        return claims

    async def _claims(self, access_token: str, id_claims: dict[str, Any], now: float) -> dict[str, Any]:
        """The session's claims: the ID token's, under those of a JWT access token that verifies and is
        accepted here (issuer, expiry, `audience_required`)."""
        if not looks_like_jwt(access_token):
            return dict(id_claims)
        try:
            verified, _ = await self.flows._verified(access_token, now)  # got by the gateway itself: no `typ` rule
            access_claims = verified.claims
            check_claims(access_claims, self.flows._claim_policy(), now)
        except TokenError as exc:
            raise SignInFailed(exc.description.replace("the token", "the access token")) from None
        return {**id_claims, **access_claims}

    async def _userinfo(self, access_token: str, loaded: Loaded) -> dict[str, Any] | None:
        """The userinfo response (OIDC §5.3), fetched once per session when a header wants it."""
        endpoint = loaded.metadata.userinfo_endpoint
        if self.config.upstream_user_info_header is None or endpoint is None:
            return None
        status, body = await self.flows.provider.http.request(
            "userinfo", "GET", endpoint, self.timeout, headers={"Authorization": f"Bearer {access_token}"})
        if status != 200 or not isinstance(body, dict):
            raise ProviderUnavailable(f"the identity provider's userinfo endpoint answered HTTP {status}")
        return body

    async def _revoke(self, session: Session, loaded: Loaded) -> None:
        endpoint = loaded.metadata.revocation_endpoint
        if endpoint is None:
            return
        client = self._client(loaded)
        tokens = [(session.refresh_token, "refresh_token", self.config.logout_revoke_refresh_token),
                  (session.access_token, "access_token", self.config.logout_revoke_access_token)]
        for token, hint, wanted in tokens:
            if token and wanted:
                await logout.revoke(self.flows.provider.http, endpoint, client, token, hint, self.timeout)

    def _token_endpoint(self, loaded: Loaded) -> str:
        endpoint = self.config.token_endpoint or loaded.metadata.token_endpoint
        if endpoint is None:
            raise ProviderUnavailable("the identity provider has no token endpoint")
        return endpoint

    def _client(self, loaded: Loaded) -> ClientAuth:
        client = self.flows.own_client
        assert client is not None  # the schema requires client_id with authorization_code
        if self.config.client_auth is None:
            client = replace(client, method=secret_method(None, loaded.metadata.token_auth_methods))
        return client

    def _refusal(self, exc: SignInFailed) -> PluginExit:
        """A failed sign-in: its status and a precise message (no redirect: a retry starts afresh)."""
        config = self.config
        message = config.forbidden_error_message if exc.status == 403 else config.unauthorized_error_message
        return PluginExit(exc.status, {"message": f"{message}: {exc.description}"}, {"Cache-Control": "no-store"})


def _exp(claims: dict[str, Any]) -> float | None:
    exp = claims.get("exp")
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def userinfo_header(userinfo: dict[str, Any]) -> str:
    """The userinfo as it goes upstream: base64url (no padding) of its JSON."""
    return base64.urlsafe_b64encode(orjson.dumps(userinfo)).rstrip(b"=").decode("ascii")
