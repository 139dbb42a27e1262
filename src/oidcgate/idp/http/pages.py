"""The user-facing pages: authorize, login, consent and logout, as plain HTML forms.

Decisions come from `sign_in.SignIn`; this module renders them, keeps the session and
CSRF cookies, and sends errors where RFC 6749 §4.1.2.1 says: to the user until the redirect URI is
trusted, to the client after.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from jinja2 import Environment, PackageLoader
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from oidcgate.idp.http.web import NO_STORE, form_params, source_address
from oidcgate.idp.protocol import rfc6749_authorization_request as authz
from oidcgate.idp.protocol.rfc6749_errors import InvalidRequest, OAuthError
from oidcgate.idp.protocol.rfc6749_requests import parse_params
from oidcgate.idp.provider import Provider, UnknownServer
from oidcgate.idp.sign_in import Login, Redirect, SignedIn, SignIn, Step

PAGE_HEADERS = {
    **NO_STORE, "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
}
SESSION_COOKIE = "oidcgate_idp_sid"
CSRF_COOKIE = "oidcgate_idp_csrf"
FORM_FIELDS = ("username", "password", "csrf_token", "decision")  # page fields, not authorization parameters


class Pages:
    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.sign_in = SignIn(provider)
        self.templates = Environment(loader=PackageLoader("oidcgate.idp.http", "templates"), autoescape=True)
        self.secure_cookies = provider.settings.base_url.startswith("https://")

    def _page(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        html = self.templates.get_template(template).render(**context)
        return HTMLResponse(html, status_code, headers=PAGE_HEADERS)

    def _message(self, heading: str, message: str, status_code: int = 400, is_error: bool = True) -> HTMLResponse:
        return self._page("message.html", status_code, heading=heading, message=message, is_error=is_error)

    def _form_page(self, request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        """A page with a form that posts back here, carrying the CSRF token of this browser."""
        csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        response = self._page(template, status_code, csrf_token=csrf, **context)
        response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=self.secure_cookies)
        return response

    def _render(self, request: Request, server_id: str, step: Step, status_code: int = 200) -> Response:
        if isinstance(step, Redirect):
            return RedirectResponse(step.url, 302, headers=NO_STORE)
        base = f"/oauth2/{server_id}"
        if isinstance(step, Login):
            return self._form_page(request, "login.html", status_code, action=f"{base}/login",
                                   params=step.request.as_params(), client_name=step.client.name, error=step.error,
                                   username=step.username)
        return self._form_page(request, "consent.html", status_code, action=f"{base}/consent",
                               params=step.request.as_params(), client_name=step.client.name, scopes=step.scopes)

    async def _page_params(self, request: Request) -> dict[str, str]:
        if request.method == "GET":
            return parse_params(request.url.query)
        return await form_params(request)

    async def _page_flow(self, request: Request,
                         flow: Callable[[Request, str, dict[str, str]], Awaitable[Response]]) -> Response:
        """Run a page flow; errors before the redirect URI is trusted are shown, later ones redirected."""
        server_id = request.path_params["server_id"]
        try:
            params = await self._page_params(request)
            return await flow(request, server_id, params)
        except authz.AuthorizationError as exc:
            server = await run_in_threadpool(self.provider.server, server_id)
            return RedirectResponse(authz.error_url(exc, self.provider.issuer(server)), 302, headers=NO_STORE)
        except OAuthError as exc:
            return self._message("Cannot continue", f"{exc.description} ({exc.error})", exc.status_code)
        except UnknownServer:
            return self._message("Not found", f"There is no authorization server {server_id!r}.", 404)

    def _authorize_sync(self, server_id: str, params: dict[str, str], session_id: str | None) -> Step:
        server = self.provider.server(server_id)
        request, client = self.sign_in.validate(server, params)
        signed_in = self.sign_in.signed_in(session_id)
        return self.sign_in.next_step(server, request, client, signed_in)

    async def authorize(self, request: Request) -> Response:
        async def flow(request: Request, server_id: str, params: dict[str, str]) -> Response:
            step = await run_in_threadpool(self._authorize_sync, server_id, params, request.cookies.get(SESSION_COOKIE))
            return self._render(request, server_id, step)
        return await self._page_flow(request, flow)

    def _csrf_ok(self, request: Request, params: dict[str, str]) -> bool:
        """Double-submit check: the form's token equals the SameSite=Strict cookie set with the form."""
        cookie, field = request.cookies.get(CSRF_COOKIE, ""), params.get("csrf_token", "")
        return bool(cookie) and hmac.compare_digest(cookie.encode(), field.encode())

    def _check_csrf(self, request: Request, params: dict[str, str]) -> None:
        if not self._csrf_ok(request, params):
            raise InvalidRequest("the form expired or was not sent from this site; start signing in again")

    def _login_sync(self, server_id: str, params: dict[str, str], source: str) -> tuple[Step, str | None, int]:
        server = self.provider.server(server_id)
        request, client = self.sign_in.validate(server, _authorization_params(params))
        username, password = params.get("username", ""), params.get("password", "")
        user = self.sign_in.check_password(username, password, source) if username and password else None
        if user is None:
            retry_after = self.sign_in.retry_after(username, source)
            error = (f"Too many failed sign-in attempts. Try again in {retry_after} seconds." if retry_after
                     else "The username or password is incorrect.")
            return Login(request, client, error=error, username=username), None, 400
        session_id, signed_in = self.sign_in.start_session(user)
        return self.sign_in.next_step(server, request, client, signed_in, just_signed_in=True), session_id, 200

    async def login(self, request: Request) -> Response:
        async def flow(request: Request, server_id: str, params: dict[str, str]) -> Response:
            self._check_csrf(request, params)
            step, session_id, status_code = await run_in_threadpool(self._login_sync, server_id, params,
                                                                    source_address(request))
            response = self._render(request, server_id, step, status_code)
            if session_id is not None:
                response.set_cookie(SESSION_COOKIE, session_id, max_age=self.provider.settings.session_lifetime,
                                    httponly=True, samesite="lax", secure=self.secure_cookies)
            return response
        return await self._page_flow(request, flow)

    def _consent_sync(self, server_id: str, params: dict[str, str], session_id: str | None) -> Step:
        server = self.provider.server(server_id)
        request, client = self.sign_in.validate(server, _authorization_params(params))
        signed_in: SignedIn | None = self.sign_in.signed_in(session_id)
        if signed_in is None:
            return Login(request, client, error="Your session ended. Sign in again.")
        if params.get("decision") != "allow":
            return Redirect(self.sign_in.deny(server, request))
        self.sign_in.remember_consent(signed_in.user, client, request.scopes)
        return Redirect(self.sign_in.issue_code(server, request, signed_in))

    async def consent(self, request: Request) -> Response:
        async def flow(request: Request, server_id: str, params: dict[str, str]) -> Response:
            self._check_csrf(request, params)
            step = await run_in_threadpool(self._consent_sync, server_id, params, request.cookies.get(SESSION_COOKIE))
            return self._render(request, server_id, step)
        return await self._page_flow(request, flow)

    def _logout_sync(self, server_id: str, params: dict[str, str], session_id: str | None) -> str | None:
        target = self.sign_in.logout_redirect(self.provider.server(server_id), params)
        self.sign_in.end_session(session_id)
        return target

    def _confirm_logout(self, request: Request, server_id: str, params: dict[str, str]) -> Response:
        """Without an id_token_hint nothing shows the request comes from a client: ask the user
        (RP-Initiated Logout 1.0 §2), so that another site cannot sign them out."""
        return self._form_page(request, "logout.html", action=f"/oauth2/{server_id}/v1/logout",
                               params=_authorization_params(params))

    async def logout(self, request: Request) -> Response:
        async def flow(request: Request, server_id: str, params: dict[str, str]) -> Response:
            if "id_token_hint" not in params and not self._csrf_ok(request, params):
                await run_in_threadpool(self.sign_in.logout_redirect, await run_in_threadpool(self.provider.server, server_id),
                                 params)  # report a bad post_logout_redirect_uri before asking
                return self._confirm_logout(request, server_id, params)
            target = await run_in_threadpool(self._logout_sync, server_id, params, request.cookies.get(SESSION_COOKIE))
            response: Response = (RedirectResponse(target, 302, headers=NO_STORE) if target else
                                  self._message("Signed out", "You are signed out.", 200, is_error=False))
            response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax", secure=self.secure_cookies)
            return response
        return await self._page_flow(request, flow)

    def routes(self) -> list[Route]:
        base = "/oauth2/{server_id}"
        return [
            Route(f"{base}/v1/authorize", self.authorize, methods=["GET", "POST"]),
            Route(f"{base}/v1/logout", self.logout, methods=["GET", "POST"]),
            Route(f"{base}/login", self.login, methods=["POST"]),
            Route(f"{base}/consent", self.consent, methods=["POST"]),
        ]


def _authorization_params(params: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in params.items() if name not in FORM_FIELDS}
