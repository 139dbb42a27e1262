"""Bearer token usage at the UserInfo endpoint: RFC 6750, https://www.rfc-editor.org/rfc/rfc6750

§2.1 (Authorization header) and §2.2 (form body) are accepted; §3 errors carry a `WWW-Authenticate:
Bearer` challenge.
"""

from __future__ import annotations

from oidcgate.idp.protocol.rfc6749_errors import OAuthError


class BearerError(OAuthError):
    """§3.1 errors answer with a Bearer challenge naming the error."""

    def __init__(self, description: str, *, realm: str = "oidcgate-idp") -> None:
        challenge = f'Bearer realm="{realm}", error="{self.error}", error_description="{_quote(description)}"'
        super().__init__(description, headers={"WWW-Authenticate": challenge})


class InvalidRequest(BearerError):
    error = "invalid_request"


class InvalidToken(BearerError):
    error = "invalid_token"
    status_code = 401


class InsufficientScope(BearerError):
    error = "insufficient_scope"
    status_code = 403


class MissingToken(OAuthError):
    """§3.1: with no credentials at all, answer 401 with a bare challenge and no error code."""

    error = "invalid_request"
    status_code = 401

    def __init__(self) -> None:
        super().__init__("a bearer token is required", headers={"WWW-Authenticate": 'Bearer realm="oidcgate-idp"'})


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', "'")


def extract_token(authorization: str | None, form: dict[str, str] | None) -> str:
    """The one bearer token of a request; §2: clients MUST NOT use more than one method."""
    from_header = None
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise InvalidRequest("the Authorization header must use the Bearer scheme")
        from_header = value.strip()
    from_form = (form or {}).get("access_token")
    if from_header and from_form:
        raise InvalidRequest("the token is sent in more than one way")
    token = from_header or from_form
    if not token:
        raise MissingToken()
    return token
