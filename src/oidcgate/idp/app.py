"""The HTTP layer: a Starlette application exposing the provider in Okta's URL layout.

Endpoints read and validate the request, run the synchronous provider in a worker thread, and map
`OAuthError`s to the responses their specs prescribe. Nothing here holds protocol logic.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import orjson
from jinja2 import Environment, PackageLoader
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from oidcgate.idp import admin_api, rfc6750_bearer, rfc8414_discovery
from oidcgate.idp import rfc6749_authorization as authz
from oidcgate.idp.authorization import Authorization, Login, Redirect, SignedIn, Step
from oidcgate.idp.oidc_core import STANDARD_SCOPES
from oidcgate.idp.provider import Provider, UnknownServer
from oidcgate.idp.rfc6749_errors import InvalidRequest, OAuthError
from oidcgate.idp.rfc6749_requests import check_form_content_type, parse_params
from oidcgate.idp.store import Scope

log = logging.getLogger("oidcgate.idp")

MAX_BODY = 64 * 1024
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1
PAGE_HEADERS = {
    **NO_STORE, "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
}
SESSION_COOKIE = "oidcgate_idp_sid"
CSRF_COOKIE = "oidcgate_idp_csrf"
FORM_FIELDS = ("username", "password", "csrf_token", "decision")  # page fields, not authorization parameters
PURGE_INTERVAL = 600.0
T = TypeVar("T")


class PayloadTooLarge(InvalidRequest):
    status_code = 413


def json_response(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code, headers=headers, media_type="application/json")


def error_response(exc: OAuthError) -> Response:
    return json_response(exc.body(), exc.status_code, {**NO_STORE, **exc.headers})


def not_found(what: str) -> Response:
    return json_response({"error": "not_found", "error_description": what}, 404)


async def read_body(request: Request) -> bytes:
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        raise PayloadTooLarge(f"the request body exceeds {MAX_BODY} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise PayloadTooLarge(f"the request body exceeds {MAX_BODY} bytes")
    return bytes(body)


async def form_params(request: Request) -> dict[str, str]:
    check_form_content_type(request.headers.get("content-type"))
    return parse_params(await read_body(request))


class IdpApp:
    """The endpoints, sharing one `Provider`."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.authorization = Authorization(provider)
        self.templates = Environment(loader=PackageLoader("oidcgate.idp", "templates"), autoescape=True)
        self.secure_cookies = provider.settings.base_url.startswith("https://")

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        return await run_in_threadpool(function, *args)

    # Token, introspection, revocation: form posts answered with JSON.

    async def _form_endpoint(self, request: Request, operation: Callable[[str, dict[str, str], str | None], T]
                             ) -> T | Response:
        try:
            params = await form_params(request)
            return await self._call(operation, request.path_params["server_id"], params,
                                    request.headers.get("authorization"))
        except OAuthError as exc:
            return error_response(exc)
        except UnknownServer as exc:
            return not_found(f"no authorization server {exc}")

    async def token(self, request: Request) -> Response:
        result = await self._form_endpoint(request, self.provider.token)
        return result if isinstance(result, Response) else json_response(result, headers=NO_STORE)

    async def introspect(self, request: Request) -> Response:
        result = await self._form_endpoint(request, self.provider.introspect)
        return result if isinstance(result, Response) else json_response(result, headers=NO_STORE)

    async def revoke(self, request: Request) -> Response:
        result = await self._form_endpoint(request, self.provider.revoke)
        return result if isinstance(result, Response) else Response(status_code=200, headers=NO_STORE)

    async def userinfo(self, request: Request) -> Response:
        try:
            form = None
            if request.method == "POST" and request.headers.get("content-type", "").startswith(
                    "application/x-www-form-urlencoded"):
                form = parse_params(await read_body(request))
            token = rfc6750_bearer.extract_token(request.headers.get("authorization"), form)
            claims = await self._call(self.provider.userinfo, request.path_params["server_id"], token)
        except OAuthError as exc:
            return error_response(exc)
        except UnknownServer as exc:
            return not_found(f"no authorization server {exc}")
        return json_response(claims, headers=NO_STORE)

    # Discovery and keys.

    def _metadata(self, server_id: str, openid: bool) -> dict[str, Any]:
        server = self.provider.server(server_id)
        issuer = self.provider.issuer(server)
        scopes = {*STANDARD_SCOPES, *(scope.name for scope in self.provider.store.all(Scope))}
        if not openid:
            return rfc8414_discovery.authorization_server_metadata(issuer, scopes)
        return rfc8414_discovery.openid_configuration(issuer, scopes, self.provider.keyring.algorithms(server.id))

    async def _discovery(self, request: Request, openid: bool) -> Response:
        try:
            metadata = await self._call(self._metadata, request.path_params["server_id"], openid)
        except UnknownServer as exc:
            return not_found(f"no authorization server {exc}")
        return json_response(metadata, headers={"Cache-Control": "public, max-age=60"})

    async def openid_configuration(self, request: Request) -> Response:
        return await self._discovery(request, openid=True)

    async def oauth_metadata(self, request: Request) -> Response:
        return await self._discovery(request, openid=False)

    async def jwks(self, request: Request) -> Response:
        server_id = request.path_params["server_id"]
        try:
            await self._call(self.provider.server, server_id)
            keys = await self._call(self.provider.keyring.jwks, server_id)
        except UnknownServer as exc:
            return not_found(f"no authorization server {exc}")
        return json_response(keys, headers={"Cache-Control": "public, max-age=60"})

    # Pages: authorize, login, consent, logout.

    def _page(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        html = self.templates.get_template(template).render(**context)
        return HTMLResponse(html, status_code, headers=PAGE_HEADERS)

    def _message(self, heading: str, message: str, status_code: int = 400, is_error: bool = True) -> HTMLResponse:
        return self._page("message.html", status_code, heading=heading, message=message, is_error=is_error)

    def _csrf(self, request: Request) -> str:
        return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)

    def _render(self, request: Request, server_id: str, step: Step, status_code: int = 200) -> Response:
        if isinstance(step, Redirect):
            return RedirectResponse(step.url, 302, headers=NO_STORE)
        csrf = self._csrf(request)
        base = f"/oauth2/{server_id}"
        response: Response
        if isinstance(step, Login):
            response = self._page("login.html", status_code, action=f"{base}/login", params=step.request.as_params(),
                                  csrf_token=csrf, client_name=step.client.name, error=step.error,
                                  username=step.username)
        else:
            response = self._page("consent.html", status_code, action=f"{base}/consent",
                                  params=step.request.as_params(), csrf_token=csrf, client_name=step.client.name,
                                  scopes=step.scopes)
        response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=self.secure_cookies)
        return response

    async def _page_params(self, request: Request) -> dict[str, str]:
        if request.method == "GET":
            return parse_params(request.url.query)
        return await form_params(request)

    async def _page_flow(self, request: Request, flow: Callable[[Request, str, dict[str, str]], Any]) -> Response:
        """Run a page flow; errors before the redirect URI is trusted are shown, later ones redirected."""
        server_id = request.path_params["server_id"]
        try:
            params = await self._page_params(request)
            return await flow(request, server_id, params)
        except authz.AuthorizationError as exc:
            server = await self._call(self.provider.server, server_id)
            return RedirectResponse(authz.error_url(exc, self.provider.issuer(server)), 302, headers=NO_STORE)
        except OAuthError as exc:
            return self._message("Cannot continue", f"{exc.description} ({exc.error})", exc.status_code)
        except UnknownServer:
            return self._message("Not found", f"There is no authorization server {server_id!r}.", 404)

    def _authorize_sync(self, server_id: str, params: dict[str, str], session_id: str | None) -> Step:
        server = self.provider.server(server_id)
        request, client = self.authorization.validate(server, params)
        signed_in = self.authorization.signed_in(session_id)
        return self.authorization.next_step(server, request, client, signed_in)

    async def authorize(self, request: Request) -> Response:
        async def flow(request: Request, server_id: str, params: dict[str, str]) -> Response:
            step = await self._call(self._authorize_sync, server_id, params, request.cookies.get(SESSION_COOKIE))
            return self._render(request, server_id, step)
        return await self._page_flow(request, flow)

    def _csrf_ok(self, request: Request, params: dict[str, str]) -> bool:
        """Double-submit check: the form's token equals the SameSite=Strict cookie set with the form."""
        cookie, field = request.cookies.get(CSRF_COOKIE, ""), params.get("csrf_token", "")
        return bool(cookie) and hmac.compare_digest(cookie.encode(), field.encode())

    def _check_csrf(self, request: Request, params: dict[str, str]) -> None:
        if not self._csrf_ok(request, params):
            raise InvalidRequest("the form expired or was not sent from this site; start signing in again")

    def _login_sync(self, server_id: str, params: dict[str, str]) -> tuple[Step, str | None, int]:
        server = self.provider.server(server_id)
        request, client = self.authorization.validate(server, _authorization_params(params))
        username, password = params.get("username", ""), params.get("password", "")
        user = self.authorization.check_password(username, password) if username and password else None
        if user is None:
            retry_after = self.authorization.retry_after(username)
            error = (f"Too many failed sign-in attempts. Try again in {retry_after} seconds." if retry_after
                     else "The username or password is incorrect.")
            return Login(request, client, error=error, username=username), None, 400
        session_id, signed_in = self.authorization.start_session(user)
        return self.authorization.next_step(server, request, client, signed_in, just_signed_in=True), session_id, 200

    async def login(self, request: Request) -> Response:
        async def flow(request: Request, server_id: str, params: dict[str, str]) -> Response:
            self._check_csrf(request, params)
            step, session_id, status_code = await self._call(self._login_sync, server_id, params)
            response = self._render(request, server_id, step, status_code)
            if session_id is not None:
                response.set_cookie(SESSION_COOKIE, session_id, max_age=self.provider.settings.session_lifetime,
                                    httponly=True, samesite="lax", secure=self.secure_cookies)
            return response
        return await self._page_flow(request, flow)

    def _consent_sync(self, server_id: str, params: dict[str, str], session_id: str | None) -> Step:
        server = self.provider.server(server_id)
        request, client = self.authorization.validate(server, _authorization_params(params))
        signed_in: SignedIn | None = self.authorization.signed_in(session_id)
        if signed_in is None:
            return Login(request, client, error="Your session ended. Sign in again.")
        if params.get("decision") != "allow":
            return Redirect(self.authorization.deny(server, request))
        self.authorization.remember_consent(signed_in.user, client, request.scopes)
        return Redirect(self.authorization.issue_code(server, request, signed_in))

    async def consent(self, request: Request) -> Response:
        async def flow(request: Request, server_id: str, params: dict[str, str]) -> Response:
            self._check_csrf(request, params)
            step = await self._call(self._consent_sync, server_id, params, request.cookies.get(SESSION_COOKIE))
            return self._render(request, server_id, step)
        return await self._page_flow(request, flow)

    def _logout_sync(self, server_id: str, params: dict[str, str], session_id: str | None) -> str | None:
        target = self.authorization.logout_redirect(self.provider.server(server_id), params)
        self.authorization.end_session(session_id)
        return target

    def _confirm_logout(self, request: Request, server_id: str, params: dict[str, str]) -> Response:
        """Without an id_token_hint nothing shows the request comes from a client: ask the user
        (RP-Initiated Logout 1.0 §2), so that another site cannot sign them out."""
        csrf = self._csrf(request)
        fields = {name: value for name, value in params.items() if name not in FORM_FIELDS}
        response = self._page("logout.html", action=f"/oauth2/{server_id}/v1/logout", params=fields, csrf_token=csrf)
        response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=self.secure_cookies)
        return response

    async def logout(self, request: Request) -> Response:
        async def flow(request: Request, server_id: str, params: dict[str, str]) -> Response:
            if "id_token_hint" not in params and not self._csrf_ok(request, params):
                await self._call(self.authorization.logout_redirect, await self._call(self.provider.server, server_id),
                                 params)  # report a bad post_logout_redirect_uri before asking
                return self._confirm_logout(request, server_id, params)
            target = await self._call(self._logout_sync, server_id, params, request.cookies.get(SESSION_COOKIE))
            response: Response = (RedirectResponse(target, 302, headers=NO_STORE) if target else
                                  self._message("Signed out", "You are signed out.", 200, is_error=False))
            response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax", secure=self.secure_cookies)
            return response
        return await self._page_flow(request, flow)

    async def health(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    def routes(self) -> list[Route]:
        base = "/oauth2/{server_id}"
        return [
            Route(f"{base}/.well-known/openid-configuration", self.openid_configuration, methods=["GET"]),
            Route(f"{base}/.well-known/oauth-authorization-server", self.oauth_metadata, methods=["GET"]),
            Route("/.well-known/oauth-authorization-server/oauth2/{server_id}", self.oauth_metadata, methods=["GET"]),
            Route(f"{base}/v1/keys", self.jwks, methods=["GET"]),
            Route(f"{base}/v1/token", self.token, methods=["POST"]),
            Route(f"{base}/v1/introspect", self.introspect, methods=["POST"]),
            Route(f"{base}/v1/revoke", self.revoke, methods=["POST"]),
            Route(f"{base}/v1/userinfo", self.userinfo, methods=["GET", "POST"]),
            Route(f"{base}/v1/authorize", self.authorize, methods=["GET", "POST"]),
            Route(f"{base}/v1/logout", self.logout, methods=["GET", "POST"]),
            Route(f"{base}/login", self.login, methods=["POST"]),
            Route(f"{base}/consent", self.consent, methods=["POST"]),
            Route("/health", self.health, methods=["GET"]),
        ]


def _authorization_params(params: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in params.items() if name not in FORM_FIELDS}


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return json_response({"error": "server_error", "error_description": "internal error"}, 500, NO_STORE)


async def _purge_forever(provider: Provider) -> None:
    while True:
        await asyncio.sleep(PURGE_INTERVAL)
        try:
            await run_in_threadpool(provider.store.purge_expired, int(time.time()))
        except Exception:  # a failed purge must not stop the next one
            log.exception("purging expired rows failed")


def build_app(provider: Provider) -> Starlette:
    """The ASGI application; also usable in-process (e.g. with httpx.ASGITransport)."""
    idp = IdpApp(provider)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        purger = asyncio.create_task(_purge_forever(provider), name="idp-purge")
        try:
            yield
        finally:
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger

    routes = [*idp.routes(), *admin_api.routes(provider)]
    return Starlette(routes=routes, exception_handlers={Exception: _server_error}, lifespan=lifespan)
