"""HTTP helpers shared by the JSON endpoints, the pages and the admin API."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from oidcgate.idp.protocol.rfc6749_errors import InvalidRequest, OAuthError
from oidcgate.idp.protocol.rfc6749_requests import check_form_content_type, parse_params

MAX_BODY = 64 * 1024
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1


class PayloadTooLarge(InvalidRequest):
    status_code = 413


def json_response(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code, headers=headers, media_type="application/json")


def error_response(exc: OAuthError) -> Response:
    return json_response(exc.body(), exc.status_code, {**NO_STORE, **exc.headers})


def source_address(request: Request) -> str:
    """The peer's address: the key of brute-force throttling. Behind a reverse proxy, the address the
    proxy reports, but only when `--forwarded-allow-ips` trusts it (otherwise any client could pick
    a fresh address for every guess)."""
    return request.client.host if request.client else "unknown"


def not_found(what: str) -> Response:
    return json_response({"error": "not_found", "error_description": what}, 404)


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The body, refused past `limit` bytes whether or not Content-Length announced it."""
    if int(request.headers.get("content-length") or 0) > limit:
        raise PayloadTooLarge(f"the request body exceeds {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"the request body exceeds {limit} bytes")
    return bytes(body)


async def form_params(request: Request) -> dict[str, str]:
    check_form_content_type(request.headers.get("content-type"))
    return parse_params(await read_body(request))
