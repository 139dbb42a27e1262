"""Finding the client's credentials in a request, and removing them (`hide_credentials`).

- Bearer tokens, RFC 6750 §2 (https://www.rfc-editor.org/rfc/rfc6750#section-2): the
  `Authorization: Bearer` header, the `access_token` query parameter, or the `access_token` field of
  an `application/x-www-form-urlencoded` body (not with GET). Using two of these at once is an
  `invalid_request` (§3.1).
- Client credentials, RFC 6749 §2.3.1 (https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1):
  `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))`, or `client_id` and
  `client_secret` as query parameters or form fields (Kong's `client_credentials_param_type`).

Two Authorization fields are an `invalid_request` too, wherever the header is read: the gateway would
check one and the upstream might act on the other.

The header and query are looked at first; the body is read only when they hold nothing, so a request
authenticated by its headers is still streamed.
"""

from __future__ import annotations

import binascii
import hashlib
from base64 import b64decode
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote_plus

from oidcgate.http import querystring
from oidcgate.plugins.openid_connect.errors import InvalidRequest
from oidcgate.plugins.pdk import Request, ServiceRequest

ACCESS_TOKEN = "access_token"
CLIENT_ID = "client_id"
CLIENT_SECRET = "client_secret"
FORM = "application/x-www-form-urlencoded"
MAX_CREDENTIAL_LENGTH = 16384  # larger than any real token or secret; bounds what is hashed and sent


@dataclass(frozen=True, slots=True)
class BearerToken:
    token: str
    source: str  # "header", "query" or "body"

    def __repr__(self) -> str:
        return f"BearerToken(source={self.source!r})"


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    client_secret: str
    source: str

    def __repr__(self) -> str:  # never print the secret
        return f"ClientCredentials(client_id={self.client_id!r}, source={self.source!r})"


Credentials = BearerToken | ClientCredentials


def parse_basic(value: str) -> ClientCredentials:
    """The `credentials` part of `Authorization: Basic credentials`, decoded as RFC 6749 §2.3.1 says."""
    try:
        decoded = b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidRequest("the Basic credentials are not valid base64 of UTF-8 text") from None
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        raise InvalidRequest("the Basic credentials must be client_id:client_secret")
    return _client(unquote_plus(user), unquote_plus(password), "header")


def _client(client_id: str, secret: str, source: str) -> ClientCredentials:
    if not client_id or not secret:
        raise InvalidRequest("client_id and client_secret must both be non-empty")
    if len(client_id) > MAX_CREDENTIAL_LENGTH or len(secret) > MAX_CREDENTIAL_LENGTH:
        raise InvalidRequest("client credentials are too long")
    return ClientCredentials(client_id, secret, source)


def _bearer(token: str, source: str) -> BearerToken:
    token = token.strip()
    if not token:
        raise InvalidRequest("the bearer token is empty")
    if len(token) > MAX_CREDENTIAL_LENGTH:
        raise InvalidRequest("the bearer token is too long")
    return BearerToken(token, source)


def _single(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if values is None:
        return None
    if len(values) != 1:
        raise InvalidRequest(f"the {name} parameter is repeated")
    return values[0]


def _from_params(params: dict[str, list[str]], source: str, bearer: bool, client: bool) -> Credentials | None:
    if bearer:
        token = _single(params, ACCESS_TOKEN)
        if token is not None:
            return _bearer(token, source)
    if client:
        client_id, secret = _single(params, CLIENT_ID), _single(params, CLIENT_SECRET)
        if client_id is not None and secret is not None:
            return _client(client_id, secret, source)
    return None


def _from_header(request: Request, bearer: bool, client: bool) -> Credentials | None:
    if not (bearer or client):
        return None
    values = request.headers.get_all("authorization")
    if not values:
        return None
    if len(values) > 1:  # a singleton field (RFC 9110 §11.6.2): the upstream might read the other one
        raise InvalidRequest("the request has more than one Authorization header")
    scheme, _, rest = values[0].strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer" and bearer:
        return _bearer(rest, "header")
    if scheme == "basic" and client:
        return parse_basic(rest)
    return None


async def find(request: Request, bearer_types: Collection[str], client_types: Collection[str],
               body_limit: int = 1 << 20) -> Credentials | None:
    """The request's credentials, or None. Raises InvalidRequest for malformed or ambiguous ones."""
    found = _from_header(request, "header" in bearer_types, "header" in client_types)
    query_bearer, query_client = "query" in bearer_types, "query" in client_types
    names = (ACCESS_TOKEN,) * query_bearer + (CLIENT_ID,) * query_client
    if names and request.query_string and querystring.may_hold(request.query_string, querystring.needles(names)):
        in_query = _from_params(request.query, "query", query_bearer, query_client)
        if in_query is not None:
            if found is not None:
                raise InvalidRequest("credentials are given in more than one place (header and query)")
            found = in_query
    if found is not None:
        return found
    body_bearer, body_client = "body" in bearer_types, "body" in client_types
    if (body_bearer or body_client) and request.method not in ("GET", "HEAD") and _is_form(request):
        body = await request.read_body(body_limit)
        params = parse_qs(body.decode("latin-1"), keep_blank_values=True)  # %-escapes decode as UTF-8
        return _from_params(params, "body", body_bearer, body_client)
    return None


def header_key(authorization: bytes) -> bytes:
    """The reuse key of an Authorization header that alone carries a request's credentials.

    A bearer token is its own key: what it leads to holds the same token (to forward it), so keying by
    it keeps nothing more in memory, and hashing 1 KB per request would cost more than the rest of a
    cached request. Any other scheme (Basic carries a client secret) is keyed by its BLAKE2b-256, so
    no secret is kept as a key (BLAKE2b rather than SHA-256: CPython's own, half the cost per call).
    """
    if authorization[:7] in _BEARER:
        return authorization
    return hashlib.blake2b(authorization, digest_size=32).digest()


_BEARER = frozenset({b"Bearer ", b"bearer "})


def _is_form(request: Request) -> bool:
    content_type = request.headers.get("content-type") or ""
    return content_type.split(";", 1)[0].strip().lower() == FORM


def _without(encoded: str, names: Collection[str]) -> str:
    """An urlencoded string without the named parameters, the others kept byte for byte."""
    kept = [part for part in encoded.split("&")
            if part and unquote_plus(part.partition("=")[0]) not in names]
    return "&".join(kept)


def hide(upstream: ServiceRequest, credentials: Credentials) -> None:
    """Remove the client's own credentials from what goes upstream (Kong's `hide_credentials`)."""
    names = (ACCESS_TOKEN,) if isinstance(credentials, BearerToken) else (CLIENT_ID, CLIENT_SECRET)
    if credentials.source == "header":
        upstream.headers.remove("authorization")
    elif credentials.source == "query":
        upstream.query_string = _without(upstream.query_string, names)
    elif upstream.body is not None:
        upstream.body = _without(upstream.body.decode("latin-1"), names).encode("latin-1")  # bytes kept
        upstream.headers.set("Content-Length", str(len(upstream.body)))
