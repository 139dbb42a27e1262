"""The data plane's request path in process: parse (httptools), validate, normalise, route, build the
upstream head — a real `ClientConnection` fed the fuzzer's bytes, with stand-in transports (as
`bench.hotpath` does), a pooled stand-in upstream that answers every request, and no plugins.

Refusals are the proxy's 4xx answers. Oracles, on what went upstream (re-parsed with httptools):
- it parses as well-formed HTTP/1.1 requests, each with exactly one Host and never both
  Content-Length and Transfer-Encoding (no smuggling through the proxy);
- each path is already normalised (the proxy forwards what it routed on) and starts with the path of
  the service whose route matched;
- no hop-by-hop header the client sent (Connection, Keep-Alive, TE, Proxy-Connection, ...) crosses.
And on what went back to the client: every response is HTTP/1.1 and none is a 500.
"""

from __future__ import annotations

import asyncio

from bench.hotpath import Transport

from fuzz.harness import ACCEPTED, REFUSED, Target, WrongAccept

SERVICE_PATHS = (b"/sa", b"/sb", b"/sh")
HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"te", b"proxy-connection", b"trailer", b"upgrade"})
DOC = {"_format_version": "3.0", "services": [
    {"name": "a", "url": "http://127.0.0.1:9/sa", "routes": [{"name": "a", "paths": ["/a"]}]},
    {"name": "b", "url": "http://127.0.0.1:9/sb", "routes": [
        {"name": "b", "paths": [r"~/b/(?P<id>\d+)$"], "methods": ["GET", "POST"], "strip_path": False}]},
    {"name": "h", "url": "http://127.0.0.1:9/sh", "routes": [{"name": "h", "hosts": ["*.example.com"]}]},
]}
_BODY = b"ok"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n" + _BODY
MAX_ROUNDS = 16  # pipelined requests answered per input, at most
SEEDS = [
    b"GET /a/x?q=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"POST /b/12 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    b"GET /any HTTP/1.1\r\nHost: api.example.com\r\nConnection: keep-alive, x-secret\r\nX-Secret: 1\r\n\r\n",
    b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"GET /a/%2e%2e/b/1 HTTP/1.1\r\nHost: h\r\n\r\nGET /a//x/./y HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET http://api.example.com/x HTTP/1.1\r\nHost: other\r\n\r\n",
]


class Capture(Transport):
    """bench.hotpath's stand-in transport, keeping everything written and letting the proxy close."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        super().write(data)
        self.data += data

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None: ...


class Heads:
    """httptools callbacks collecting the request heads of a byte stream."""

    def __init__(self) -> None:
        self.heads: list[tuple[bytes, list[tuple[bytes, bytes]]]] = []
        self.url = b""
        self.fields: list[tuple[bytes, bytes]] = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.fields.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.heads.append((self.url, self.fields))
        self.url, self.fields = b"", []


def target() -> Target:
    import httptools

    from oidcgate.config import load
    from oidcgate.plugins.registry import config_schema
    from oidcgate.proxy.accesslog import AccessLog
    from oidcgate.proxy.paths import normalize
    from oidcgate.proxy.runtime import compile_snapshot
    from oidcgate.proxy.server import ClientConnection, Listener
    from oidcgate.proxy.settings import Settings
    from oidcgate.proxy.state import WorkerState
    from oidcgate.proxy.upstream import UpstreamConnection
    from oidcgate.tls.upstream import PLAIN

    loop = asyncio.new_event_loop()
    state = WorkerState(loop, Settings(), access_log=AccessLog("off"))
    state.swap(compile_snapshot(load(DOC, config_schema), state.env, state.stats))
    listener = Listener(8000, 8192, 100)
    address = ("127.0.0.1", 9, PLAIN)

    def check_upstream(sent: bytes) -> None:
        heads = Heads()
        try:
            httptools.HttpRequestParser(heads).feed_data(sent)
        except httptools.HttpParserError as exc:
            raise WrongAccept(f"the proxy forwarded a malformed request ({exc}): {sent[:300]!r}") from None
        for url, fields in heads.heads:
            names = [name for name, _ in fields]
            path = httptools.parse_url(url).path or b""
            if names.count(b"host") != 1 or (b"content-length" in names and b"transfer-encoding" in names):
                raise WrongAccept(f"ambiguous framing or Host forwarded: {sent[:300]!r}")
            if normalize(path) != path or not path.startswith(SERVICE_PATHS):
                raise WrongAccept(f"forwarded path {path!r} is not normalised under a service path")
            if HOP_BY_HOP.intersection(names):
                raise WrongAccept(f"a hop-by-hop header crossed the proxy: {sent[:300]!r}")

    def one(data: bytes) -> str:
        client, upstream_transport = Capture(), Capture()
        upstream = UpstreamConnection(state.pool, address)
        upstream.transport = upstream_transport  # type: ignore[assignment]
        state.pool.idle[address] = [upstream]
        conn = ClientConnection(state, listener)
        conn.connection_made(client)  # type: ignore[arg-type]
        try:
            conn.data_received(data)
            answered = 0
            while upstream_transport.writes > answered and answered < MAX_ROUNDS and not upstream.closed:
                answered = upstream_transport.writes
                upstream.data_received(RESPONSE)
        finally:
            conn.connection_lost(None)
            state.pool.idle.pop(address, None)
        check_upstream(bytes(upstream_transport.data))
        statuses = [line.split(b" ", 2)[1] for line in bytes(client.data).split(b"\r\n")
                    if line.startswith(b"HTTP/")]
        if b"500" in statuses:
            raise WrongAccept(f"500 for {data[:300]!r}")
        if client.data and not client.data.startswith(b"HTTP/1.1 "):
            raise WrongAccept(f"not an HTTP/1.1 response: {bytes(client.data[:100])!r}")
        return ACCEPTED if upstream_transport.writes else REFUSED

    return Target("request_head", "the data plane's request head path: parse, normalise, route, forward",
                  SEEDS, one)
