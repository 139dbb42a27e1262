"""Parsing OAuth 2.0 requests: parameters, client credentials and scopes, free of I/O.

RFC 6749 §2.3.1 (client password), §3.1/§3.2 (parameters), §3.3 (scope):
https://www.rfc-editor.org/rfc/rfc6749
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_plus

from oidcgate.idp.protocol.rfc6749_errors import InvalidClient, InvalidRequest, InvalidScope

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
JWT_BEARER_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_PARAMETERS = 64

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")


def parse_params(raw: bytes | str) -> dict[str, str]:
    """Decode `application/x-www-form-urlencoded` parameters (a body or a query string).

    §3.1: a parameter sent without a value is treated as omitted, and none may be sent twice.
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=MAX_PARAMETERS)
    except UnicodeDecodeError as exc:
        raise InvalidRequest("parameters are not valid UTF-8") from exc
    except ValueError as exc:
        raise InvalidRequest(f"too many parameters (at most {MAX_PARAMETERS})") from exc
    params: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            raise InvalidRequest("parameters must not contain NUL characters")
        if name in seen:
            raise InvalidRequest(f"parameter {name!r} is included more than once")
        seen.add(name)
        if value:
            params[name] = value
    return params


def check_form_content_type(content_type: str | None) -> None:
    """Token, introspection and revocation requests are form posts (§4.1.3, RFC 7662 §2.1, RFC 7009 §2.1)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != FORM_CONTENT_TYPE:
        raise InvalidRequest(f"the request body must be {FORM_CONTENT_TYPE}")


@dataclass(frozen=True)
class ClientCredentials:
    """How a client tried to authenticate; verified later against the registered client."""

    method: str  # client_secret_basic | client_secret_post | private_key_jwt | none
    client_id: str | None  # None only for an assertion whose client_id comes from its `iss`
    secret: str | None = None
    assertion: str | None = None


def _basic_credentials(authorization: str) -> tuple[str, str]:
    """§2.3.1: the id and secret are form-urlencoded, joined by ':', then base64-encoded."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient("unsupported Authorization scheme; use Basic")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidClient("malformed Basic credentials") from exc
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id or "\x00" in decoded:
        raise InvalidClient("malformed Basic credentials")
    return unquote_plus(client_id), unquote_plus(secret)


def extract_client_credentials(authorization: str | None, params: dict[str, str]) -> ClientCredentials:
    """Find the one authentication method a request uses (§2.3: a client MUST NOT use more than one)."""
    found: list[ClientCredentials] = []
    if authorization:
        client_id, secret = _basic_credentials(authorization)
        if params.get("client_id", client_id) != client_id:
            raise InvalidClient("client_id in the body differs from the Basic credentials")
        found.append(ClientCredentials("client_secret_basic", client_id, secret=secret))
    if "client_secret" in params:
        found.append(ClientCredentials("client_secret_post", params.get("client_id"), secret=params["client_secret"]))
    if "client_assertion" in params or "client_assertion_type" in params:
        if params.get("client_assertion_type") != JWT_BEARER_ASSERTION_TYPE:
            raise InvalidClient(f"client_assertion_type must be {JWT_BEARER_ASSERTION_TYPE}")
        if "client_assertion" not in params:
            raise InvalidRequest("client_assertion is missing")
        found.append(ClientCredentials("private_key_jwt", params.get("client_id"), assertion=params["client_assertion"]))
    if len(found) > 1:
        raise InvalidRequest("more than one client authentication method is used")
    if found:
        if found[0].method == "client_secret_post" and not found[0].client_id:
            raise InvalidRequest("client_id is missing")
        return found[0]
    if "client_id" in params:
        return ClientCredentials("none", params["client_id"])
    raise InvalidClient("client authentication is required")


def parse_scope(value: str | None) -> tuple[str, ...] | None:
    """A space-delimited list of scope tokens (§3.3), deduplicated in order; None when omitted."""
    if value is None:
        return None
    tokens = value.split(" ")
    if any(not _SCOPE_TOKEN.match(token) for token in tokens):
        raise InvalidScope("scope is malformed: scope tokens are separated by single spaces")
    return tuple(dict.fromkeys(tokens))


def is_scope_token(value: str) -> bool:
    return bool(_SCOPE_TOKEN.match(value))
