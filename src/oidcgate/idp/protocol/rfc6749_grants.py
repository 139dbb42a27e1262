"""Grant validation for the token endpoint, free of I/O.

RFC 6749 §4.1.3 (authorization code), §4.4 (client credentials), §6 (refresh), §3.3 (scope):
https://www.rfc-editor.org/rfc/rfc6749
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from oidcgate.idp.protocol.rfc6749_errors import (
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    UnauthorizedClient,
    UnsupportedGrantType,
)

AUTHORIZATION_CODE = "authorization_code"
CLIENT_CREDENTIALS = "client_credentials"
REFRESH_TOKEN = "refresh_token"

OPENID = "openid"
OFFLINE_ACCESS = "offline_access"


def check_grant_type(grant_type: str | None, supported: Collection[str], client_grant_types: Collection[str]) -> str:
    """§5.2: unknown grants are unsupported_grant_type; known ones the client lacks are unauthorized_client."""
    if grant_type is None:
        raise InvalidRequest("grant_type is missing")
    if grant_type not in supported:
        raise UnsupportedGrantType(f"grant_type {grant_type!r} is not supported")
    if grant_type not in client_grant_types:
        raise UnauthorizedClient(f"the client is not allowed to use the {grant_type} grant")
    return grant_type


def resolve_scope(requested: tuple[str, ...] | None, granted: Collection[str], grant_type: str) -> tuple[str, ...]:
    """The scopes to issue: what was asked for, all of it granted to the client (§3.3).

    When the client omits `scope`, §3.3 lets the server apply a default: everything granted to the
    client. Like Okta, `openid` is refused for client credentials, where no user is present.
    """
    if grant_type == CLIENT_CREDENTIALS:
        if requested is not None and OPENID in requested:
            raise InvalidScope("the openid scope is not allowed for the client_credentials grant")
        if requested is None:
            requested = tuple(scope for scope in granted if scope != OPENID)
    elif requested is None:
        requested = tuple(granted)
    missing = [scope for scope in requested if scope not in granted]
    if missing:
        raise InvalidScope(f"scope not granted to this client: {' '.join(missing)}")
    if not requested:
        raise InvalidScope("no scope requested and none is granted to this client")
    return requested


def narrow_scope(requested: tuple[str, ...] | None, original: tuple[str, ...]) -> tuple[str, ...]:
    """§6: a refresh may ask for fewer scopes than originally granted, never more."""
    if requested is None:
        return original
    extra = [scope for scope in requested if scope not in original]
    if extra:
        raise InvalidScope(f"scope exceeds the original grant: {' '.join(extra)}")
    return requested


@dataclass(frozen=True)
class IssuedCode:
    """What the server remembered when it issued an authorization code."""

    client_id: str
    redirect_uri: str
    expires_at: int


def check_code(code: IssuedCode, *, client_id: str, redirect_uri: str | None, now: int) -> None:
    """§4.1.3: the code was issued to this client, for this redirect_uri, and has not expired."""
    if code.client_id != client_id:
        raise InvalidGrant("the authorization code was issued to another client")
    if now >= code.expires_at:
        raise InvalidGrant("the authorization code has expired")
    if redirect_uri is None:
        raise InvalidRequest("redirect_uri is missing")
    if redirect_uri != code.redirect_uri:
        raise InvalidGrant("redirect_uri does not match the authorization request")
