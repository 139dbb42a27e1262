"""Responses the proxy writes itself (errors, plugin exits), Kong-shaped: a JSON `{"message": ...}` body.

Error responses are built once per (status, message, keep-alive) and cached as bytes, because hostile
or misconfigured traffic (404 storms, refused upstreams) must not cost more than proxied traffic.
"""

from __future__ import annotations

import functools
from http import HTTPStatus
from typing import Any

import orjson

from oidcgate import __version__

SERVER = f"oidcgate/{__version__}".encode()
JSON = b"application/json; charset=utf-8"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

# Kong's wording where Kong has one.
NO_ROUTE = "no Route matched with those values"
NO_SERVICE = "no Service found with those values"
NO_CONFIG = "no configuration loaded yet"
BAD_GATEWAY = "An invalid response was received from the upstream server"
GATEWAY_TIMEOUT = "The upstream server is timing out"
NO_PEER = "failure to get a peer from the ring-balancer"
UNEXPECTED = "An unexpected error occurred"
BAD_REQUEST = "Bad request"
TOO_LARGE = "Request Entity Too Large"
HEADERS_TOO_LARGE = "Request Header Fields Too Large"
URI_TOO_LONG = "URI Too Long"
TIMEOUT = "Request timeout"
NOT_ALLOWED = "Method not allowed"
VERSION = "HTTP Version Not Supported"
UNAVAILABLE = "The server is shutting down"
USE_HTTPS = "Please use HTTPS protocol"
UNKNOWN_CODING = "Transfer-Encoding not supported"


def _status_line(code: int) -> bytes:
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {code} {phrase}\r\n".encode()


STATUS_LINES: dict[int, bytes] = {code: _status_line(code) for code in range(100, 600)}


def status_line(code: int) -> bytes:
    line = STATUS_LINES.get(code)
    return line if line is not None else _status_line(code)


def render(status: int, body: bytes, *, close: bool, content_type: bytes | None = JSON,
           headers: list[tuple[str, str]] | None = None, date: bytes = b"", head_only: bool = False) -> bytes:
    """A complete response (head + body) with framing; `headers` are extra fields (e.g. from a plugin).

    `head_only` (a HEAD request) keeps the Content-Length of the body but leaves the body out.
    """
    parts = [status_line(status)]
    if date:
        parts.append(b"Date: " + date + b"\r\n")
    if content_type is not None:
        parts.append(b"Content-Type: " + content_type + b"\r\n")
    for name, value in headers or ():
        if name.lower() not in _OWN_FIELDS:
            parts.append(f"{name}: {value}\r\n".encode("latin-1", "replace"))
    parts.append(b"Content-Length: %d\r\nServer: %s\r\n" % (len(body), SERVER))
    parts.append(b"Connection: close\r\n\r\n" if close else b"\r\n")
    if not head_only:
        parts.append(body)
    return b"".join(parts)


_OWN_FIELDS = frozenset({"content-length", "connection", "transfer-encoding", "server", "date"})


@functools.lru_cache(maxsize=512)
def cached(status: int, body: bytes, close: bool, date: bytes, head_only: bool = False) -> bytes:
    """`render` for JSON bodies without extra headers, memoized (the Date changes once a second)."""
    return render(status, body, close=close, date=date, head_only=head_only)


@functools.lru_cache(maxsize=256)
def message_body(message: str) -> bytes:
    return orjson.dumps({"message": message})


def exit_body(body: Any) -> tuple[bytes, bytes | None]:
    """Body bytes and content type for a plugin's `ctx.exit(status, body)`, as Kong's `kong.response.exit`.

    A dict or list is sent as JSON; a str or bytes as is; None as an empty body.
    """
    if body is None:
        return b"", None
    if isinstance(body, bytes):
        return body, None
    if isinstance(body, str):
        return body.encode(), b"text/plain; charset=utf-8"
    return orjson.dumps(body), b"application/json; charset=utf-8"
