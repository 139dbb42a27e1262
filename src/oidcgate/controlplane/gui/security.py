"""The GUI's browser-facing defences: signed session cookie, login gate, CSRF tokens, strict headers.

- Session: a cookie holding a random session id, a login flag and its issue time, signed with
  HMAC-SHA256 under a key drawn per process and bound to the admin token (a restart or a new token
  ends every session). The cookie is HttpOnly and SameSite=Strict; it never holds the token.
- CSRF: a synchronizer token derived from the session id (HMAC), carried by every form and checked
  on every state-changing request before any handler runs; a new session (login, logout) gets a
  new token.
- Host, Origin and Sec-Fetch-Site are checked by `oidcgate.admin_guard` (the Admin API's guard)
  in front of this middleware: without an admin token a DNS-rebinding page cannot drive the GUI
  of a developer machine, and a cross-site form is refused even before its CSRF token is checked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE_NAME = "oidcgate_gui"
CSRF_FIELD = "csrf_token"
SESSION_KEY = "gui.session"  # scope key: the Session of this request; handlers may replace it
MAX_FORM_BYTES = 1 << 20
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STATIC_PREFIX = "/static/"
PUBLIC_PREFIXES = ("/login", STATIC_PREFIX)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    sid: str
    authenticated: bool
    issued_at: int


class SessionCodec:
    """Issues, signs and checks session cookies and the CSRF tokens bound to them."""

    def __init__(self, admin_token: str | None, *, max_age: int = 8 * 3600, secret: bytes | None = None) -> None:
        base = secret if secret is not None else secrets.token_bytes(32)
        self._key = hmac.new(base, b"oidcgate-gui|" + (admin_token or "").encode(), hashlib.sha256).digest()
        self.max_age = max_age

    def _mac(self, purpose: bytes, payload: bytes) -> bytes:
        return hmac.new(self._key, purpose + b"|" + payload, hashlib.sha256).digest()

    def issue(self, *, authenticated: bool) -> Session:
        return Session(secrets.token_urlsafe(24), authenticated, int(time.time()))

    def encode(self, session: Session) -> str:
        payload = json.dumps([session.sid, session.authenticated, session.issued_at], separators=(",", ":"))
        raw = payload.encode()
        return f"{_b64(raw)}.{_b64(self._mac(b'session', raw))}"

    def decode(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session a cookie carries, or None when it is missing, forged, malformed or expired."""
        if not cookie or cookie.count(".") != 1:
            return None
        body, mac = cookie.split(".")
        try:
            raw, signature = _unb64(body), _unb64(mac)
        except (ValueError, TypeError):
            return None
        if not hmac.compare_digest(signature, self._mac(b"session", raw)):
            return None
        try:
            sid, authenticated, issued_at = json.loads(raw)
        except (ValueError, TypeError):
            return None
        if not (isinstance(sid, str) and isinstance(authenticated, bool) and isinstance(issued_at, int)):
            return None
        age = (time.time() if now is None else now) - issued_at
        return Session(sid, authenticated, issued_at) if 0 <= age < self.max_age else None

    def csrf_token(self, session: Session) -> str:
        return _b64(self._mac(b"csrf", session.sid.encode()))

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.csrf_token(session).encode())

    def check_admin_token(self, expected: str | None, offered: str) -> bool:
        return expected is not None and hmac.compare_digest(expected.encode(), offered.encode())

    def cookie_header(self, session: Session, *, secure: bool) -> bytes:
        attributes = f"; Path=/; Max-Age={self.max_age}; HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")
        return (f"{COOKIE_NAME}={self.encode(session)}" + attributes).encode()


def session_of(scope: Scope) -> Session:
    session: Session = scope[SESSION_KEY]
    return session


def start_session(scope: Scope, codec: SessionCodec, *, authenticated: bool) -> None:
    """Replace the request's session (login, logout): new id, so new CSRF token, against fixation."""
    scope[SESSION_KEY] = codec.issue(authenticated=authenticated)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    for part in (_header(scope, b"cookie") or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


async def _plain(send: Send, status: int, text: str, extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
               *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class SecurityHeadersMiddleware:
    """Adds the strict CSP and friends to every response, pages and static files alike."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", ())}
                message["headers"] = [*message.get("headers", ()),
                                      *((k, v) for k, v in SECURITY_HEADERS if k not in names)]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class GuardMiddleware:
    """Session cookie in, login gate, CSRF check on every unsafe method, session cookie out."""

    def __init__(self, app: ASGIApp, *, codec: SessionCodec, admin_token: str | None) -> None:
        self.app = app
        self.codec = codec
        self.admin_token = admin_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith(STATIC_PREFIX) and scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)  # public files: no session needed, no cookie set
            return
        incoming = self.codec.decode(_cookie(scope, COOKIE_NAME))
        session = incoming or self.codec.issue(authenticated=False)
        scope[SESSION_KEY] = session
        path: str = scope["path"]
        public = path.startswith(PUBLIC_PREFIXES)
        signed_in = self.admin_token is None or session.authenticated

        if scope["method"] not in SAFE_METHODS:
            replay = await self._checked_form(scope, receive, send, session)
            if replay is None:
                return
            receive = replay
        if not signed_in and not public:
            if scope["method"] in SAFE_METHODS:
                target = path + ("?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else "")
                await _plain(send, 303, "Sign in first.", ((b"location", f"/login?next={quote(target)}".encode()),))
            else:
                await _plain(send, 401, "Sign in first.")
            return

        secure = scope.get("scheme") == "https"

        async def send_with_cookie(message: Message) -> None:
            current = scope[SESSION_KEY]
            if message["type"] == "http.response.start" and current != incoming:
                message["headers"] = [*message.get("headers", ()),
                                      (b"set-cookie", self.codec.cookie_header(current, secure=secure))]
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    async def _checked_form(self, scope: Scope, receive: Receive, send: Send, session: Session) -> Receive | None:
        """Read the form body (bounded), check its CSRF token, and hand the body on; None when refused."""
        content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            await _plain(send, 415, "Forms must be sent as application/x-www-form-urlencoded.")
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_FORM_BYTES:
                await _plain(send, 413, "Form too large.")
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10_000)
        except (UnicodeDecodeError, ValueError):
            await _plain(send, 400, "Malformed form body.")
            return None
        token = next((v for k, v in fields if k == CSRF_FIELD), None)
        if not self.codec.csrf_ok(session, token):
            await _plain(send, 403, "CSRF check failed: this form is stale or was not sent from this GUI. "
                                    "Go back, reload the page and try again.")
            return None
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay
