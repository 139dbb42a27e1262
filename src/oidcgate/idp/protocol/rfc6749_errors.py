"""OAuth 2.0 error responses, one class per error code.

RFC 6749 §4.1.2.1 (authorization endpoint) and §5.2 (token endpoint):
https://www.rfc-editor.org/rfc/rfc6749#section-5.2
Other specifications add their codes as subclasses of `OAuthError` next to their own logic
(RFC 6750 in `rfc6750_bearer`, RFC 7009 in `rfc7009_revocation`, OpenID Connect in `oidc_core`).
"""

from __future__ import annotations

from typing import ClassVar


class OAuthError(Exception):
    """An error the client is told about as `{"error": ..., "error_description": ...}`."""

    error: ClassVar[str] = "server_error"
    status_code: ClassVar[int] = 400

    def __init__(self, description: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.headers = dict(headers or {})

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    """Client authentication failed (§5.2): always 401 with a `WWW-Authenticate` challenge."""

    error = "invalid_client"
    status_code = 401

    def __init__(self, description: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(description, headers={"WWW-Authenticate": 'Basic realm="oidcgate-idp"', **(headers or {})})


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class AccessDenied(OAuthError):
    error = "access_denied"
    status_code = 403


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"


class ServerError(OAuthError):
    error = "server_error"
    status_code = 500


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status_code = 503
