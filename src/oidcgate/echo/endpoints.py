"""What each echo path answers (httpbin's shapes), free of I/O so unit tests call it directly.

  /get, /headers                     GET (and HEAD)
  /post, /put, /patch, /delete       that method only, like httpbin
  /anything, /anything/...           any method
  /status/{code}                     any method; empty body with that status (200-599)
  /delay/{seconds}                   any method; the echo after 0-10 s (more is a 400, not clamped)
  /bytes/{n}                         GET; n (<= 1 GiB) bytes with Content-Length, streamed in chunks
  /stream-bytes/{n}                  GET; the same bytes, chunked transfer encoding
Bytes are pseudo-random; `?seed=INT` makes them reproducible. `?chunk_size=N` (1 B-1 MiB, default
64 KiB) sets the size of the writes.

The echo is one JSON shape for every echoing path: method, url, args, headers, origin (the peer
address), data/json/form (see body.describe: bodies over 1 MiB are streamed through a hash and
reported by `body_length` + `body_sha256` only) and `body_length`/`body_sha256` always. Header
names keep the case they arrived in; repeated headers are joined with ", ".
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson

from oidcgate.echo.body import BodySink, describe, multi_dict

MAX_DELAY = 10.0
MAX_BYTES = 1 << 30
DEFAULT_CHUNK = 64 << 10
MAX_CHUNK = 1 << 20
READ_METHODS = ("GET", "HEAD")
ANY_METHOD: tuple[str, ...] = ()


@dataclass(slots=True)
class EchoRequest:
    """A parsed request as the endpoints see it (the body already consumed into a BodySink)."""

    method: str
    target: str  # the request-target as sent, e.g. "/anything/x?a=1"
    path: str
    query: str
    headers: list[tuple[str, str]]
    peer: str
    server: str  # "host:port" this server listens on, for the echoed URL when Host is missing
    body: BodySink = field(default_factory=BodySink)

    def header(self, name: str) -> str:
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), "")


@dataclass(slots=True)
class Reply:
    """A response to write. `stream` yields the body in chunks (then `length` is the total or None
    for chunked framing); `delay` postpones the whole response."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    stream: Iterator[bytes] | None = None
    length: int | None = None
    delay: float = 0.0


class BadRequest(ValueError):
    """An endpoint argument out of range; becomes a 400 with this message."""


def json_reply(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Reply:
    body = orjson.dumps(payload, option=orjson.OPT_INDENT_2) + b"\n"
    return Reply(status, [("Content-Type", "application/json"), *(headers or [])], body)


def error_reply(status: int, message: str, headers: list[tuple[str, str]] | None = None) -> Reply:
    return json_reply(status, {"message": message}, headers)


def echo(req: EchoRequest) -> dict[str, Any]:
    host = req.header("host") or req.server
    return {
        "method": req.method,
        "url": f"http://{host}{req.target}",
        "args": multi_dict(parse_qsl(req.query, keep_blank_values=True)),
        "headers": headers_dict(req.headers),
        "origin": req.peer,
        **describe(req.body, req.header("content-type")),
    }


def headers_dict(headers: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers:
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def _number(text: str, what: str, kind: type[int] | type[float], low: float, high: float) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise BadRequest(f"{what} must be a number, got '{text[:40]}'") from None
    if not low <= value <= high:  # also rejects NaN
        raise BadRequest(f"{what} must be between {low:g} and {high:g}, got {text[:40]}")
    return value


def _query_int(req: EchoRequest, name: str, default: int | None, low: int, high: int) -> int | None:
    args = dict(parse_qsl(req.query, keep_blank_values=True))
    return default if name not in args else _number(args[name], name, int, low, high)


def random_bytes(total: int, seed: int | None, chunk: int) -> Iterator[bytes]:
    """`total` pseudo-random bytes in chunks of `chunk`; reproducible for a given seed."""
    rng = random.Random(seed)
    sent = 0
    while sent < total:
        size = min(chunk, total - sent)
        yield rng.randbytes(size)
        sent += size


def _status(_req: EchoRequest, arg: str) -> Reply:
    return Reply(_number(arg, "status code", int, 200, 599), [])


def _delay(req: EchoRequest, arg: str) -> Reply:
    reply = json_reply(200, echo(req))
    reply.delay = _number(arg, "delay", float, 0, MAX_DELAY)
    return reply


def _bytes(req: EchoRequest, arg: str, chunked: bool) -> Reply:
    total = _number(arg, "n", int, 0, MAX_BYTES)
    seed = _query_int(req, "seed", None, -(2**63), 2**63 - 1)
    chunk = _query_int(req, "chunk_size", DEFAULT_CHUNK, 1, MAX_CHUNK) or DEFAULT_CHUNK
    stream = random_bytes(total, seed, chunk)
    return Reply(200, [("Content-Type", "application/octet-stream")], stream=stream,
                 length=None if chunked else total)


# Exact paths: (allowed methods (empty: any), what they answer).
EXACT: dict[str, tuple[tuple[str, ...], Any]] = {
    "/get": (READ_METHODS, lambda req: json_reply(200, echo(req))),
    "/post": (("POST",), lambda req: json_reply(200, echo(req))),
    "/put": (("PUT",), lambda req: json_reply(200, echo(req))),
    "/patch": (("PATCH",), lambda req: json_reply(200, echo(req))),
    "/delete": (("DELETE",), lambda req: json_reply(200, echo(req))),
    "/anything": (ANY_METHOD, lambda req: json_reply(200, echo(req))),
    "/headers": (READ_METHODS, lambda req: json_reply(200, {"headers": headers_dict(req.headers)})),
}
# "/prefix/{arg}" paths: (allowed methods, what they answer given the argument).
WITH_ARGUMENT: dict[str, tuple[tuple[str, ...], Any]] = {
    "status": (ANY_METHOD, _status),
    "delay": (ANY_METHOD, _delay),
    "bytes": (READ_METHODS, lambda req, arg: _bytes(req, arg, chunked=False)),
    "stream-bytes": (READ_METHODS, lambda req, arg: _bytes(req, arg, chunked=True)),
    "anything": (ANY_METHOD, lambda req, arg: json_reply(200, echo(req))),
}


def dispatch(req: EchoRequest) -> Reply:
    """The reply for a request; never raises for bad input (those are 4xx replies)."""
    exact = EXACT.get(req.path)
    if exact is not None:
        methods, handler = exact
        return _checked(req, methods) or handler(req)
    prefix, _, arg = req.path[1:].partition("/")
    with_arg = WITH_ARGUMENT.get(prefix)
    if with_arg is None or not arg or ("/" in arg and prefix != "anything"):
        return error_reply(404, f"no such endpoint: {req.path[:200]}")
    methods, handler = with_arg
    try:
        return _checked(req, methods) or handler(req, arg)
    except BadRequest as exc:
        return error_reply(400, str(exc))


def _checked(req: EchoRequest, methods: tuple[str, ...]) -> Reply | None:
    if not methods or req.method in methods:
        return None
    return error_reply(405, f"method {req.method} not allowed here", [("Allow", ", ".join(methods))])

