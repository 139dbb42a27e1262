"""Signing users in: authorization requests, login sessions, consent and logout.

The HTTP layer renders pages; this module decides what comes next for a validated request
(`Login`, `ConsentPage` or `Redirect`), checks passwords (throttled per username and address), issues
authorization codes and keeps login sessions (cookie value stored as a SHA-256 digest). The request's
own rules, free of I/O, are `protocol.rfc6749_authorization_request`.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from oidcgate.idp.hashing import digest
from oidcgate.idp.protocol import rfc6749_authorization_request as authz
from oidcgate.idp.protocol.oidc_core import ConsentRequired, LoginRequired
from oidcgate.idp.protocol.rfc6749_errors import AccessDenied, InvalidRequest
from oidcgate.idp.protocol.rfc9068_access_token import VERIFY_ALGORITHMS
from oidcgate.idp.provider import Provider
from oidcgate.idp.storage.store import (
    AuthorizationCode,
    AuthServer,
    Client,
    Consent,
    LoginSession,
    Scope,
    User,
)


@dataclass(frozen=True)
class SignedIn:
    user: User
    auth_time: int


@dataclass(frozen=True)
class Login:
    """Show the login page (again, with `error`, after a failed attempt)."""

    request: authz.AuthorizationRequest
    client: Client
    error: str | None = None
    username: str | None = None


@dataclass(frozen=True)
class ConsentPage:
    request: authz.AuthorizationRequest
    client: Client
    scopes: list[tuple[str, str]]  # (name, description)


@dataclass(frozen=True)
class Redirect:
    url: str


Step = Login | ConsentPage | Redirect


class SignIn:
    """The authorization endpoint's decisions about the user (RFC 6749 §4.1.1-§4.1.2 and OIDC Core
    §3.1.2): who is signed in, whether to ask for a password or consent, the code once they are done."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.store = provider.store
        # Checked against when the username is unknown, so that timing does not tell which users exist.
        self._decoy_hash = provider.hasher.hash(secrets.token_urlsafe(16))

    # Requests.

    def validate(self, server: AuthServer, params: dict[str, str]) -> tuple[authz.AuthorizationRequest, Client]:
        """Raises `OAuthError` (show it to the user) or `authz.AuthorizationError` (redirect it)."""
        client_id = params.get("client_id")
        if client_id is None:
            raise InvalidRequest("client_id is missing")
        client = self.store.get(Client, client_id)
        if client is None:
            raise InvalidRequest("the client is unknown")
        request = authz.validate(params, redirect_uris=client.redirect_uris, grant_types=client.grant_types,
                                 granted_scopes=client.scopes)
        return request, client

    def next_step(self, server: AuthServer, request: authz.AuthorizationRequest, client: Client,
                  signed_in: SignedIn | None, *, just_signed_in: bool = False) -> Step:
        """OIDC Core §3.1.2.3: authenticate if needed (prompt, max_age), ask consent if needed, then answer."""
        now = int(time.time())
        prompts = request.prompts
        too_old = signed_in is not None and request.max_age is not None and now - signed_in.auth_time > request.max_age
        if signed_in is None or too_old or ("login" in prompts and not just_signed_in):
            if "none" in prompts:
                raise authz.AuthorizationError(LoginRequired("the user is not signed in"), request.redirect_uri,
                                               request.state)
            return Login(request, client, username=request.login_hint)
        if self._needs_consent(request, client, signed_in.user):
            if "none" in prompts:
                raise authz.AuthorizationError(ConsentRequired("the user has not consented"), request.redirect_uri,
                                               request.state)
            return ConsentPage(request, client, self._scope_descriptions(request.scopes))
        return Redirect(self.issue_code(server, request, signed_in))

    def _needs_consent(self, request: authz.AuthorizationRequest, client: Client, user: User) -> bool:
        """Consent is skipped for first-party clients; third parties ask once per scope set."""
        if client.first_party:
            return False
        if "consent" in request.prompts:
            return True
        consent = self.store.get(Consent, (user.id, client.client_id))
        return consent is None or not set(request.scopes) <= set(consent.scope.split(" "))

    def _scope_descriptions(self, scopes: tuple[str, ...]) -> list[tuple[str, str]]:
        described = []
        for name in scopes:
            scope = self.store.get(Scope, name)
            described.append((name, scope.description if scope else ""))
        return described

    def issue_code(self, server: AuthServer, request: authz.AuthorizationRequest, signed_in: SignedIn) -> str:
        """RFC 6749 §4.1.2: a single-use code, bound to the client, redirect URI and PKCE challenge."""
        code = secrets.token_urlsafe(32)
        now = int(time.time())
        self.store.add(AuthorizationCode(
            code_hash=digest(code), server_id=server.id, client_id=request.client_id, user_id=signed_in.user.id,
            redirect_uri=request.redirect_uri, scope=request.scope, nonce=request.nonce,
            code_challenge=request.code_challenge, auth_time=signed_in.auth_time,
            expires_at=now + server.code_lifetime, used_at=None, access_jti=None, access_exp=None, family_id=None))
        return authz.response_url(request.redirect_uri, {"code": code, "state": request.state,
                                                         "iss": self.provider.issuer(server)})

    def deny(self, server: AuthServer, request: authz.AuthorizationRequest) -> str:
        error = authz.AuthorizationError(AccessDenied("the user denied the request"), request.redirect_uri,
                                         request.state)
        return authz.error_url(error, self.provider.issuer(server))

    def remember_consent(self, user: User, client: Client, scopes: tuple[str, ...]) -> None:
        consent = self.store.get(Consent, (user.id, client.client_id))
        granted = dict.fromkeys([*(consent.scope.split(" ") if consent else []), *scopes])
        self.store.merge(Consent(user_id=user.id, client_id=client.client_id, scope=" ".join(granted)))

    # Passwords and sessions.

    def check_password(self, username: str, password: str, source: str) -> User | None:
        """The user, if the password is right. Repeated failures refuse this username from this address
        only, unchecked until the delay has passed: a guesser elsewhere cannot lock the user out."""
        key = ("user", username, source)
        if self.provider.throttle.retry_after(key) is not None:
            return None
        user = self.store.user_by_username(username)
        stored = user.password_hash if user else self._decoy_hash
        if not self.provider.hasher.verify(stored, password) or user is None:
            self.provider.throttle.failed(key)
            return None
        self.provider.throttle.succeeded(key)
        return user

    def retry_after(self, username: str, source: str) -> int | None:
        return self.provider.throttle.retry_after(("user", username, source))

    def start_session(self, user: User) -> tuple[str, SignedIn]:
        """A new login session; returns the cookie value (only its digest is stored)."""
        session_id = secrets.token_urlsafe(32)
        now = int(time.time())
        self.store.add(LoginSession(id_hash=digest(session_id), user_id=user.id, auth_time=now,
                                    expires_at=now + self.provider.settings.session_lifetime))
        return session_id, SignedIn(user, now)

    def signed_in(self, session_id: str | None) -> SignedIn | None:
        if not session_id:
            return None
        session = self.store.get(LoginSession, digest(session_id))
        if session is None or session.expires_at <= time.time():
            return None
        user = self.store.get(User, session.user_id)
        return SignedIn(user, session.auth_time) if user else None

    def end_session(self, session_id: str | None) -> None:
        if session_id:
            with self.store.session() as session:
                row = session.get(LoginSession, digest(session_id))
                if row is not None:
                    session.delete(row)

    # RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2-§3).

    def logout_redirect(self, server: AuthServer, params: dict[str, str]) -> str | None:
        """Where to send the user after logout: a registered post_logout_redirect_uri, or None."""
        client_id = params.get("client_id")
        hint = params.get("id_token_hint")
        if hint is not None:
            claims = self._id_token_hint_claims(server, hint)
            audience = claims.get("aud")
            hinted = audience[0] if isinstance(audience, list) and audience else audience
            if client_id is not None and client_id != hinted:
                raise InvalidRequest("client_id does not match id_token_hint")
            client_id = hinted if isinstance(hinted, str) else None
        target = params.get("post_logout_redirect_uri")
        if target is None:
            return None
        client = self.store.get(Client, client_id) if client_id else None
        if client is None or target not in client.post_logout_redirect_uris:
            raise InvalidRequest("post_logout_redirect_uri is not registered for the client")
        return authz.response_url(target, {"state": params.get("state")})

    def _id_token_hint_claims(self, server: AuthServer, token: str) -> dict[str, Any]:
        """An ID token this server signed; it may have expired (the spec allows that for a hint)."""
        try:
            claims = jwt.decode(token, self.provider.keyring.verification_keys(server.id),
                                algorithms=list(VERIFY_ALGORITHMS)).claims
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidRequest("id_token_hint is not an ID token of this server") from exc
        if claims.get("iss") != self.provider.issuer(server):
            raise InvalidRequest("id_token_hint is not an ID token of this server")
        return claims
