"""Validating authorization requests and building the redirect back to the client, free of I/O.

RFC 6749 §4.1.1-§4.1.2.1 (https://www.rfc-editor.org/rfc/rfc6749#section-4.1), with the OpenID Connect
authentication request parameters of OIDC Core §3.1.2.1 (nonce, prompt, max_age) and the `iss`
response parameter of RFC 9207. Errors found before the redirect URI is known to be registered are
shown to the user (§4.1.2.1); all later ones travel back to the client as `AuthorizationError`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from oidcgate.idp.protocol import rfc7636_pkce
from oidcgate.idp.protocol.oidc_core import RequestNotSupported, RequestUriNotSupported
from oidcgate.idp.protocol.rfc6749_errors import (
    InvalidRequest,
    OAuthError,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from oidcgate.idp.protocol.rfc6749_grants import AUTHORIZATION_CODE, resolve_scope
from oidcgate.idp.protocol.rfc6749_requests import parse_scope

PROMPT_VALUES = ("none", "login", "consent", "select_account")


class AuthorizationError(Exception):
    """An error to report to the client by redirecting to its (verified) redirect URI."""

    def __init__(self, error: OAuthError, redirect_uri: str, state: str | None) -> None:
        super().__init__(error.description)
        self.error = error
        self.redirect_uri = redirect_uri
        self.state = state


@dataclass(frozen=True)
class AuthorizationRequest:
    """A validated request; `as_params()` round-trips it through the login form's hidden fields."""

    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    state: str | None = None
    nonce: str | None = None
    prompt: str | None = None
    max_age: int | None = None
    login_hint: str | None = None

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(self.scope.split(" "))

    @property
    def prompts(self) -> frozenset[str]:
        return frozenset((self.prompt or "").split())

    def as_params(self) -> dict[str, str]:
        params = {key: str(value) for key, value in asdict(self).items() if value is not None}
        params.update(response_type="code", code_challenge_method="S256")
        return params


def check_redirect_uri(redirect_uri: str | None, registered: Collection[str]) -> str:
    """Exact string matching against the registered URIs (RFC 9700 §4.1.3); never redirects on failure."""
    if redirect_uri is None:
        raise InvalidRequest("redirect_uri is missing")
    if redirect_uri not in registered:
        raise InvalidRequest("redirect_uri is not registered for this client")
    return redirect_uri


def validate(params: dict[str, str], *, redirect_uris: Collection[str], grant_types: Collection[str],
             granted_scopes: Collection[str]) -> AuthorizationRequest:
    """Validate an authorization request for a known client (the caller looked `client_id` up)."""
    redirect_uri = check_redirect_uri(params.get("redirect_uri"), redirect_uris)
    state = params.get("state")
    try:
        return _validate_redirectable(params, redirect_uri, grant_types, granted_scopes)
    except OAuthError as exc:
        raise AuthorizationError(exc, redirect_uri, state) from exc


def _validate_redirectable(params: dict[str, str], redirect_uri: str, grant_types: Collection[str],
                           granted_scopes: Collection[str]) -> AuthorizationRequest:
    response_type = params.get("response_type")
    if response_type is None:
        raise InvalidRequest("response_type is missing")
    if response_type != "code":
        raise UnsupportedResponseType("only response_type=code is supported")
    if AUTHORIZATION_CODE not in grant_types:
        raise UnauthorizedClient("the client is not allowed to use the authorization_code grant")
    if "request" in params:
        raise RequestNotSupported("request objects are not supported")
    if "request_uri" in params:
        raise RequestUriNotSupported("request_uri is not supported")
    if params.get("response_mode", "query") != "query":
        raise InvalidRequest("only response_mode=query is supported")
    scopes = resolve_scope(parse_scope(params.get("scope")), granted_scopes, AUTHORIZATION_CODE)
    challenge = rfc7636_pkce.check_challenge(params.get("code_challenge"), params.get("code_challenge_method"))
    prompts = (params.get("prompt") or "").split()
    if any(value not in PROMPT_VALUES for value in prompts):
        raise InvalidRequest(f"prompt values are limited to {', '.join(PROMPT_VALUES)}")
    if "none" in prompts and len(prompts) > 1:
        raise InvalidRequest("prompt=none cannot be combined with other values")
    max_age = params.get("max_age")
    if max_age is not None and not max_age.isdigit():
        raise InvalidRequest("max_age must be a non-negative integer")
    return AuthorizationRequest(
        client_id=params["client_id"], redirect_uri=redirect_uri, scope=" ".join(scopes),
        code_challenge=challenge, state=params.get("state"), nonce=params.get("nonce"),
        prompt=" ".join(prompts) or None, max_age=int(max_age) if max_age is not None else None,
        login_hint=params.get("login_hint"),
    )


def response_url(redirect_uri: str, params: dict[str, str | None]) -> str:
    """Add response parameters to the redirect URI's query, keeping the query it already has (§3.1.2)."""
    parts = urlsplit(redirect_uri)
    extra = urlencode({key: value for key, value in params.items() if value is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def error_url(error: AuthorizationError, issuer: str) -> str:
    return response_url(error.redirect_uri, {**error.error.body(), "state": error.state, "iss": issuer})
