"""The client side of the proxy: an asyncio.Protocol per connection, parsing with httptools (llhttp).

llhttp runs in strict mode, so the smuggling vectors are refused by the parser itself: Content-Length
together with Transfer-Encoding, duplicate or non-numeric Content-Length, a Transfer-Encoding whose
last coding is not `chunked`, bad chunk sizes, bare CR or LF, obs-fold, invalid header names and
values, HTTP/0.9. This module adds what llhttp does not check: sizes (431), Host rules (RFC 9112
§3.2: exactly one, well-formed), absolute-form targets (their authority replaces Host), CONNECT/TRACE
(405), Transfer-Encoding in HTTP/1.0 (400), versions other than 1.0/1.1 (505), and Expect (417).
Any of these gets a JSON error with `Connection: close`; the connection then half-closes and
discards input for a moment (lingering close) so the client reads the answer rather than a reset.

Pipelined requests are parsed ahead, queued and answered in order; reading pauses meanwhile.
Client timeouts (header, body, keep-alive, send) are enforced by the worker tick from counters the
connection bumps, so a request costs no timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
from collections import deque
from typing import TYPE_CHECKING

from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser

from oidcgate.proxy import errors
from oidcgate.proxy.exchange import Exchange
from oidcgate.proxy.headers import (
    AUTHORIZATION,
    CONNECTION,
    CONTENT_LENGTH,
    DROP,
    EXPECT,
    FORWARD,
    HOST,
    REQUEST_KINDS,
    TRANSFER_ENCODING,
    UPGRADE,
    VIA_FIELD,
    XF,
    XFF,
    connection_tokens,
    drop_named,
    request_kind,
)
from oidcgate.proxy.modes import CHUNKED, LENGTH, PAUSE_BUFFER, PAUSE_PIPELINE, TO_BUFFER, TO_DISCARD
from oidcgate.proxy.observers import begin_trace
from oidcgate.proxy.paths import InvalidPath, normalize
from oidcgate.proxy.tunnel import splice

if TYPE_CHECKING:
    from oidcgate.proxy.state import WorkerState
    from oidcgate.proxy.upstream import UpstreamConnection

_HOST_RE = re.compile(rb"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(?::[0-9]{0,5})?")
_ABSOLUTE_RE = re.compile(rb"(?i)https?://(?P<authority>[^/?#]*)(?P<rest>[/?].*|)", re.DOTALL)
LINGER = 2.0  # seconds a closing connection keeps discarding input
MAX_READ = 256 * 1024  # the most uvloop hands to data_received at once
MAX_UPGRADE_BUFFER = 64 * 1024
HOST_CACHE_SIZE = 1024
_REFUSED_METHODS = frozenset({b"CONNECT", b"TRACE"})  # no tunnels; TRACE would echo credentials (XST)


class _Stop(Exception):
    """Raised from a parser callback to stop llhttp after a request was refused."""


class Listener:
    """What every connection accepted on one proxy socket shares (precomputed once)."""

    __slots__ = ("forwarded", "max_fields", "max_head", "number", "port", "scheme", "tls")

    def __init__(self, port: int, max_head: int, max_headers: int, tls: bool = False) -> None:
        self.number = port
        self.port = str(port).encode()
        self.tls = tls
        self.scheme = b"https" if tls else b"http"
        self.forwarded = b"X-Forwarded-Proto: " + self.scheme + b"\r\nX-Forwarded-Port: " + self.port + b"\r\n"
        self.max_head = max_head
        self.max_fields = max_headers * 4  # `fields` holds 4 items per header


def parse_host(host: bytes, cache: dict[bytes, tuple[bytes, bytes]]) -> tuple[bytes, bytes] | None:
    """(lower-case host[:port], host without port) for a valid Host, else None; memoized."""
    known = cache.get(host)
    if known is not None:
        return known
    if not _HOST_RE.fullmatch(host):
        return None
    lower = host.lower()
    colon = lower.rfind(b":")
    parsed = (lower, lower[:colon] if colon > lower.rfind(b"]") else lower)
    if len(cache) < HOST_CACHE_SIZE:
        cache[host] = parsed
    return parsed


class ClientConnection(asyncio.Protocol):
    __slots__ = (
        "active", "auth_at", "began", "broken", "client_eof", "closed", "deferred", "feeding", "fields", "forwarded",
        "head_bytes", "head_mark",
        "head_since", "head_size", "host", "host_count", "ip", "ip_text", "lingering", "listener", "mark",
        "mark_time", "nreq", "parser", "parsing", "pause_flags", "progress", "queue", "special", "state",
        "to_flush", "transport", "trusted", "tunneled", "upgraded", "url", "write_paused_at", "writing_paused",
    )

    def __init__(self, state: WorkerState, listener: Listener) -> None:
        self.state = state
        self.listener = listener
        self.parser = HttpRequestParser(self)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.ip = b""
        self.ip_text = ""
        self.forwarded = b""
        self.trusted = False
        self.closed = False
        self.client_eof = False
        self.active: Exchange | None = None
        self.parsing: Exchange | None = None
        self.queue: deque[Exchange] | None = None
        self.feeding = False
        self.to_flush: Exchange | None = None
        self.deferred: list[Exchange] = []
        self.pause_flags = 0
        self.writing_paused = False
        self.write_paused_at = 0.0
        self.began = False
        self.broken = False
        self.lingering = False
        self.tunneled = False
        self.upgraded: bytearray | None = None
        # Timeout bookkeeping, read by the worker tick (see check()).
        self.progress = 0
        self.mark = 0
        self.mark_time = state.now
        self.nreq = 0
        self.head_mark = -1
        self.head_since = 0.0
        # The request head being parsed.
        self.url = b""
        self.fields: list[bytes] = []
        self.auth_at = -1  # where the Authorization value is in `fields`
        self.head_size = 0
        self.head_bytes = 0  # bytes read while a head was incomplete (llhttp buffers partial lines)
        self.host: bytes | None = None
        self.host_count = 0
        self.special: list[tuple[int, bytes, bytes]] | None = None

    # ------------------------------------------------------------------ asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.ip_text = peer[0] if isinstance(peer, tuple) else "unix"
        self.ip = self.ip_text.encode()
        self.forwarded = (b"X-Forwarded-For: " + self.ip + b"\r\nX-Real-IP: " + self.ip + b"\r\n"
                          + self.listener.forwarded)  # what every request of this connection gets
        state = self.state
        self.trusted = self.ip_text in state.trusted
        state.connections.add(self)
        state.accepted += 1
        state.handled += 1
        if state.draining:
            transport.close()

    def data_received(self, data: bytes) -> None:
        self.progress += 1
        if self.broken:
            return  # refused or lingering: input is discarded
        if self.upgraded is not None:
            self._buffer_upgrade(data)
            return
        if self.began:  # a head continues: it is at most this much input long
            self.head_bytes += len(data)
        else:  # a head may start in this read
            self.head_bytes = len(data)
        self.feeding = True
        try:
            self.parser.feed_data(data)
        except HttpParserUpgrade as upgrade:
            self.upgraded = bytearray()
            self._buffer_upgrade(data[upgrade.args[0]:])
        except HttpParserError as exc:
            if not self.broken and not isinstance(exc.__context__, _Stop):
                self._malformed()
        finally:
            self.feeding = False
        exchange = self.to_flush
        if exchange is not None:
            self.to_flush = None
            exchange.flush_up()
        if self.deferred:
            deferred, self.deferred = self.deferred, []
            for exchange in deferred:
                exchange.flush_deferred()
        if self.began and self.head_bytes > self.listener.max_head + MAX_READ and not self.broken:
            # A head still incomplete after more than the limit of input beyond the read it started
            # in (llhttp buffers a partial line itself): certainly too large, and memory stays bounded.
            self._refuse(431, errors.HEADERS_TOO_LARGE)

    def eof_received(self) -> bool | None:
        self.client_eof = True
        if self.lingering:
            self.transport.close()
            return None
        active = self.active
        if active is None or (not active.request_done and active.sink != TO_DISCARD):
            return None  # idle, or the client gave up mid-request: close
        return True  # a half-close after a complete request still gets its answer (RFC 9112 §9.6)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.state.connections.discard(self)
        if self.tunneled:
            return
        for exchange in (self.active, *(self.queue or ()), self.parsing):
            if exchange is not None and not exchange.finished:
                exchange.abandon(exchange.status or 499)  # nginx's "client closed request"

    def pause_writing(self) -> None:
        """The client reads slower than the upstream sends: stop reading the upstream."""
        self.writing_paused = True
        self.write_paused_at = self.state.now
        active = self.active
        if active is not None and active.upstream is not None:
            active.upstream.transport.pause_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        active = self.active
        if active is not None and active.upstream is not None and not active.upstream.closed:
            active.upstream.transport.resume_reading()

    # ------------------------------------------------------------------ httptools callbacks
    def on_url(self, url: bytes) -> None:
        self.url += url
        self.began = True  # (the method may have arrived before; llhttp does not buffer it)

    def on_header(self, name: bytes, value: bytes) -> None:
        kind = REQUEST_KINDS.get(name)
        if kind is None:
            kind = request_kind(name)
        if kind == FORWARD:
            self.fields += (name, b": ", value, b"\r\n")
        elif kind == AUTHORIZATION:  # forwarded; where its value is is noted (-2: more than one)
            self.auth_at = len(self.fields) + 2 if self.auth_at == -1 else -2
            self.fields += (name, b": ", value, b"\r\n")
        elif kind == HOST:
            self.host = value
            self.host_count += 1
        elif kind != DROP:
            if self.special is None:
                self.special = []
            self.special.append((kind, name.lower(), value))
        else:
            self.head_size += len(name) + len(value)  # dropped, but it counts towards the limit

    def on_headers_complete(self) -> None:
        self.began = False
        self.nreq += 1
        state = self.state
        parser = self.parser
        url = self.url
        fields = self.fields
        listener = self.listener
        special = self.special
        if self.head_bytes > listener.max_head or len(fields) > listener.max_fields:
            self._check_head_size()  # the input read is an upper bound: only then count exactly
        keep_alive = parser.should_keep_alive()
        if keep_alive and special is None:
            http11 = True  # llhttp keeps 1.0 alive only with a Connection header (which is `special`)
        else:
            version = parser.get_http_version()
            http11 = version == "1.1"
            if not http11 and version != "1.0":
                self._refuse(505, errors.VERSION)
        method = parser.get_method()
        if method in _REFUSED_METHODS:
            self._refuse(405, errors.NOT_ALLOWED)
        host = self.host
        if url[:1] != b"/":
            absolute = _ABSOLUTE_RE.fullmatch(url)
            if absolute is None or b"@" in absolute["authority"]:
                self._refuse(400, errors.BAD_REQUEST)
            host = absolute["authority"]  # type: ignore[index]  # RFC 9112 §3.2.2: replaces Host
            url = absolute["rest"] or b"/"  # type: ignore[index]
            if url[:1] == b"?":
                url = b"/" + url
        if self.host_count != 1 and (http11 or self.host_count > 1):
            self._refuse(400, errors.BAD_REQUEST)
        if host is None:
            host = host_name = b""
        else:
            parsed = state.hosts.get(host) or parse_host(host, state.hosts)
            if parsed is None:
                self._refuse(400, errors.BAD_REQUEST)
            host, host_name = parsed  # type: ignore[misc]
        query_at = url.find(b"?")
        if query_at < 0:
            raw_path = url
            query = b""
        else:
            raw_path = url[:query_at]
            query = url[query_at:]
        if url.find(b"#") >= 0:  # (find, not `in`: see accesslog.entry)
            self._refuse(400, errors.BAD_REQUEST)
        path = raw_path
        if path.find(b"%") >= 0 or path.find(b"/.") >= 0 or path.find(b"//") >= 0:
            try:
                path = normalize(raw_path)
            except InvalidPath:
                self._refuse(400, errors.BAD_REQUEST)
        exchange = Exchange(self, method, raw_path, path, query, host, host_name, fields, http11,
                            keep_alive and not state.draining)
        if self.auth_at >= 0:
            exchange.auth_at = self.auth_at
            exchange.authorization = fields[self.auth_at]
        elif self.auth_at == -2:
            exchange.auth_at = -2
        if special is not None:
            self._special_headers(exchange, http11)
        runtime = state.runtime
        if runtime is None:
            exchange.local = (503, errors.NO_CONFIG)
        else:
            exchange.runtime = runtime
            router = runtime.tls_router if listener.tls else runtime.router
            match = router.match(method, host, path, self._route_headers() if router.header_names else None)
            if match is None:
                exchange.local = (404, errors.NO_ROUTE)
            else:
                route = exchange.route = match[0].target
                exchange.match = match
                if route.tracer is not None:  # before any plugin: the phases are timed, traceparent forwarded
                    begin_trace(exchange, route.tracer)
                if route.https_only and not listener.tls:
                    exchange.local = _https_redirect(route.entity.https_redirect_status_code, host, url)
                elif self.active is None and (route.chain is None or route.chain.shortcuts is not None):
                    self.parsing = self.active = exchange  # the fast path: proxy right away
                    exchange.started = True
                    if route.chain is None:
                        exchange.forward()
                    else:
                        exchange.run_chain(route.chain)
                    return
        self.parsing = exchange
        self._enqueue(exchange)

    def on_body(self, body: bytes) -> None:
        exchange = self.parsing
        if exchange is not None:
            exchange.on_request_body(body)

    def on_message_complete(self) -> None:
        exchange = self.parsing
        self.parsing = None
        self.url = b""
        self.fields = []
        self.auth_at = -1
        self.head_size = 0
        self.host = None
        self.host_count = 0
        self.special = None
        if exchange is not None:
            if exchange.sink == TO_BUFFER and exchange.ctx is None:
                exchange.request_done = True  # (what on_request_complete does for a body it holds)
            else:
                exchange.on_request_complete()

    # ------------------------------------------------------------------ request handling helpers
    def _check_head_size(self) -> None:
        if len(self.url) > self.listener.max_head:
            self._refuse(414, errors.URI_TOO_LONG)
        special = self.special or ()
        size = (len(self.url) + sum(map(len, self.fields)) + self.head_size + len(self.host or b"")
                + sum(len(value) for _, _, value in special))
        if size > self.listener.max_head or len(self.fields) // 4 + len(special) > self.listener.max_fields // 4:
            self._refuse(431, errors.HEADERS_TOO_LARGE)

    def _special_headers(self, exchange: Exchange, http11: bool) -> None:
        """Framing, X-Forwarded-*, Via, Expect, Upgrade and Connection of the request being parsed."""
        tokens: list[bytes] = []
        for kind, lname, value in self.special:  # type: ignore[union-attr]
            if kind == CONTENT_LENGTH:
                exchange.content_length = int(value)  # llhttp checked it: digits, once
                if exchange.content_length:
                    exchange.body_mode = LENGTH
            elif kind == TRANSFER_ENCODING:
                if not http11:  # RFC 9112 §6.1: faulty framing from an HTTP/1.0 client
                    self._refuse(400, errors.BAD_REQUEST)
                codings = value.lower().replace(b" ", b"").replace(b"\t", b"")
                if codings != b"chunked":
                    if not codings.endswith(b",chunked"):  # RFC 9112 §6.3: length unknown -> 400
                        self._refuse(400, errors.BAD_REQUEST)
                    self._refuse(501, errors.UNKNOWN_CODING)  # e.g. gzip: we would forward it garbled
                exchange.body_mode = CHUNKED
            elif kind == XFF:
                exchange.xff = value if exchange.xff is None else exchange.xff + b", " + value
            elif kind == XF:
                if exchange.xf is None:
                    exchange.xf = {}
                exchange.xf[lname] = value
            elif kind == VIA_FIELD:
                exchange.via = value if exchange.via is None else exchange.via + b", " + value
            elif kind == CONNECTION:
                tokens.append(value)
            elif kind == EXPECT:
                if value.lower() != b"100-continue":
                    self._refuse(417, "Expectation Failed")
                exchange.expect_continue = http11
            elif kind == UPGRADE and self.parser.should_upgrade():
                exchange.upgrade = value
                exchange.keep_alive = False  # unless the upstream switches, the connection ends
        if tokens:
            drop = connection_tokens(tokens)
            if drop:
                exchange.fields = drop_named(exchange.fields, drop)
                exchange.auth_at = -2  # (moved, or gone)
                exchange.authorization = None

    def _route_headers(self) -> dict[bytes, list[bytes]]:
        fields = self.fields
        headers: dict[bytes, list[bytes]] = {}
        for i in range(0, len(fields), 4):
            headers.setdefault(fields[i].lower(), []).append(fields[i + 2])
        for kind, lname, value in self.special or ():
            if kind in (XF, XFF, VIA_FIELD):
                headers.setdefault(lname, []).append(value)
        return headers

    def _enqueue(self, exchange: Exchange) -> None:
        if self.active is None:
            self.active = exchange
            exchange.start()
            return
        if self.queue is None:
            self.queue = deque()
        self.queue.append(exchange)
        self.pause(PAUSE_PIPELINE)

    def _refuse(self, status: int, message: str) -> None:
        """Answer a request we will not process (after those before it) and stop reading input."""
        method = b"" if self.began else self.parser.get_method()
        exchange = Exchange(self, method, b"", b"", b"", b"", b"", [], True, False)
        exchange.local = (status, message)
        self.broken = True
        self.began = False
        self.parsing = None
        self._enqueue(exchange)
        if self.feeding:
            raise _Stop

    def _malformed(self) -> None:
        """llhttp refused the input: 400, or end the request whose body broke."""
        parsing = self.parsing
        self.broken = True
        self.began = False
        self.parsing = None
        if parsing is not None and not parsing.finished:
            parsing.request_malformed()
        else:
            exchange = Exchange(self, b"", b"", b"", b"", b"", b"", [], True, False)
            exchange.local = (400, errors.BAD_REQUEST)
            self._enqueue(exchange)

    def _buffer_upgrade(self, data: bytes) -> None:
        buffer = self.upgraded
        buffer += data  # type: ignore[operator]
        if len(buffer) > MAX_UPGRADE_BUFFER:
            self.pause(PAUSE_BUFFER)

    def start_tunnel(self, upstream: UpstreamConnection) -> None:
        """The upstream switched protocols: from now on bytes are relayed as they are."""
        state = self.state
        self.tunneled = True
        state.connections.discard(self)
        upstream.upgraded_to = self.transport
        early = bytes(self.upgraded or b"")
        self.upgraded = None
        self.pause_flags = 0
        state.tunnels.update(splice(self.transport, upstream.transport, early, state.tunnels.discard))

    def exchange_done(self, exchange: Exchange) -> None:
        """An exchange finished; go on with the next pipelined request, keep alive or close."""
        if exchange is not self.active:
            return
        self.active = None
        if self.closed or self.tunneled:
            return
        queue = self.queue
        if not exchange.keep_alive or (not queue and (self.broken or self.client_eof or self.state.draining)):
            self._close(linger=not exchange.request_done or self.broken)
            return
        if queue:  # (after a refused request, the requests before it still get their answers)
            following = queue.popleft()
            if not queue:
                self.resume(PAUSE_PIPELINE)
            self.active = following
            following.start()

    def _close(self, linger: bool) -> None:
        """Close after what is buffered is sent; with `linger`, first half-close and discard input."""
        if linger and self.transport.can_write_eof():
            self.broken = self.lingering = True
            self.progress += 1  # LINGER counts from now
            self.transport.write_eof()
            self.pause_flags = 0
            with contextlib.suppress(RuntimeError):
                self.transport.resume_reading()
        else:
            self.transport.close()

    def close_idle(self) -> None:
        """Draining: close now if no request is in progress."""
        if self.active is None and not self.began and not self.closed:
            self.transport.close()

    def abort(self) -> None:
        if not self.closed:
            self.transport.abort()

    def pause(self, flag: int) -> None:
        if not self.pause_flags and not self.closed:
            self.transport.pause_reading()
        self.pause_flags |= flag

    def resume(self, flag: int) -> None:
        if self.pause_flags & flag:
            self.pause_flags &= ~flag
            if not self.pause_flags and not self.closed:
                self.transport.resume_reading()

    # ------------------------------------------------------------------ timeouts (from the worker tick)
    def check(self, now: float) -> None:
        """Enforce client timeouts: head (total time), body and keep-alive (silence), send (no drain)."""
        if self.closed:
            return
        if self.progress != self.mark or self.pause_flags:
            self.mark = self.progress  # input arrived, or we are the ones not reading
            self.mark_time = now
        silent = now - self.mark_time
        settings = self.state.settings
        if self.lingering:
            if silent >= LINGER:
                self.transport.close()
            return
        active = self.active
        if self.writing_paused and active is not None:
            if now - self.write_paused_at >= settings.client_body_timeout:
                self.abort()  # the client stopped reading its response
            return
        parsing = self.parsing
        if parsing is not None and not parsing.request_done:
            if silent >= settings.client_body_timeout:
                self._body_timeout(parsing)
            return
        if self.began:
            if self.head_mark != self.nreq:
                self.head_mark = self.nreq
                self.head_since = now
            elif now - self.head_since >= settings.client_header_timeout and active is None:
                self._refuse(408, errors.TIMEOUT)  # a head that never ends (slowloris)
            return
        if active is None and not self.queue:
            timeout = settings.keepalive_timeout if self.nreq else settings.client_header_timeout
            if silent >= timeout:
                self.transport.close()

    def _body_timeout(self, parsing: Exchange) -> None:
        self.broken = True
        self.parsing = None
        parsing.fail(408, errors.TIMEOUT)

    def state_name(self) -> str:
        if self.active is not None:
            return "writing"
        if self.began or self.parsing is not None:
            return "reading"
        return "waiting"


def _https_redirect(code: int, host: bytes, url: bytes) -> tuple[int, str]:
    if code == 426:
        return 426, errors.USE_HTTPS
    return code, "https://" + host.decode("latin-1") + url.decode("latin-1")


async def serve(state: WorkerState, sock: socket.socket, tls: ssl.SSLContext | None = None) -> asyncio.Server:
    """Accept proxy connections on an already bound and listening socket, terminating TLS with `tls`.

    TLS lives in the transport (uvloop's), so requests on either kind of listener run the same code;
    only the Listener tells them the scheme (X-Forwarded-Proto, https-only routes).
    """
    settings = state.settings
    listener = Listener(sock.getsockname()[1], settings.max_header_size, settings.max_headers, tls is not None)
    return await state.loop.create_server(
        lambda: ClientConnection(state, listener), sock=sock, ssl=tls,
        ssl_handshake_timeout=settings.client_header_timeout if tls is not None else None)
