"""Refusals as RFC 6750 §3 says (https://www.rfc-editor.org/rfc/rfc6750#section-3), one class per case.

- no credentials at all: 401 with a bare `WWW-Authenticate: Bearer realm="..."` (§3.1: no error code);
- malformed request (two tokens, a broken Basic header): 400 `invalid_request`;
- a token or client secret that does not verify: 401 `invalid_token`;
- valid, but not allowed here: 403 `insufficient_scope`;
- too many refused client secrets from one address: 429 with Retry-After (RFC 6585 §4);
- the identity provider cannot be reached and nothing is cached: 502, which blames the gateway and
  not the client;
- the configuration names what the running one lacks (an `anonymous` consumer that does not exist):
  Kong's 500 `An unexpected error occurred`, logged for the operator.

Descriptions are fixed texts written here, never request data, so no secret can be echoed.
"""

from __future__ import annotations

import re
from typing import ClassVar

from oidcgate.plugins.pdk import PluginExit

REALM = "oidcgate"
_UNSAFE = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')  # RFC 6750 §3: error_description characters


class OIDCError(Exception):
    """A request the plugin refuses; `description` is safe to show (never contains credentials)."""

    status: ClassVar[int] = 401
    error: ClassVar[str | None] = "invalid_token"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class MissingCredentials(OIDCError):
    error = None


class InvalidRequest(OIDCError):
    status = 400
    error = "invalid_request"


class InvalidToken(OIDCError):
    """Also used for refused client credentials: the client gets no usable token either way. The JWT
    verifier's `oidcgate.jwt.errors.TokenError` becomes one, its description kept (`flows.authenticate`)."""


class InsufficientScope(OIDCError):
    status = 403
    error = "insufficient_scope"


class ProviderUnavailable(OIDCError):
    """The identity provider is down, slow or answered nonsense, and nothing cached can stand in."""

    status = 502
    error = None


class TooManyAttempts(OIDCError):
    """Too many refused client credentials from one address: the provider is not asked (see `attempts`)."""

    status = 429
    error = None

    def __init__(self, description: str, retry_after: int) -> None:
        super().__init__(description)
        self.retry_after = retry_after


class Misconfigured(OIDCError):
    """The plugin's configuration cannot be applied to this request; the description is for the log only."""

    status = 500
    error = None


def www_authenticate(error: OIDCError) -> str:
    value = f'Bearer realm="{REALM}"'
    if error.error is not None:
        value += f', error="{error.error}", error_description="{_UNSAFE.sub("?", error.description)}"'
    return value


def to_exit(error: OIDCError, unauthorized_message: str, forbidden_message: str) -> PluginExit:
    """The response for `error`: JSON `{"message": ...}` plus RFC 6750's header on 400/401/403."""
    if isinstance(error, ProviderUnavailable):
        return PluginExit(502, {"message": f"Bad Gateway: {error.description}"})
    if isinstance(error, Misconfigured):
        return PluginExit(500, {"message": "An unexpected error occurred"})
    if isinstance(error, TooManyAttempts):
        return PluginExit(429, {"message": f"Too Many Requests: {error.description}"},
                          {"Retry-After": str(error.retry_after)})
    headers = {"WWW-Authenticate": www_authenticate(error)}
    if error.status == 403:
        message = forbidden_message
    elif error.status == 400:
        message = f"Bad Request: {error.description}"
    else:
        message = unauthorized_message
    return PluginExit(error.status, {"message": message}, headers)
