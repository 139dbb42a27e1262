"""The client side of the proxy: an asyncio.Protocol per connection, parsing with httptools (llhttp).

A request goes through named stages: the parser collects its head (`Received`), `head.admit` checks
it (or refuses it: a JSON error with `Connection: close`, then the connection half-closes and discards
input for a moment, a lingering close, so the client reads the answer rather than a reset), the router
picks its route, and an `Exchange` carries it to the upstream and back.

Pipelined requests are parsed ahead, queued and answered in order; reading pauses meanwhile. Client
timeouts (header, body, keep-alive, send) are enforced by the worker tick (see state), so a request
costs no timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser

from oidcgate.http.fields import Received
from oidcgate.proxy import errors
from oidcgate.proxy.exchange import Exchange
from oidcgate.proxy.head import Refused, RequestHead, admit, check_size
from oidcgate.proxy.headers import REQUEST_KINDS, request_kind
from oidcgate.proxy.modes import PAUSE_BUFFER, PAUSE_PIPELINE, TO_DISCARD
from oidcgate.proxy.observers import begin_trace
from oidcgate.proxy.tunnel import splice
from oidcgate.tls.sni import indicated_name

if TYPE_CHECKING:
    from oidcgate.proxy.memo import Recent
    from oidcgate.proxy.state import Waiting, WorkerState
    from oidcgate.proxy.upstream import UpstreamConnection

LINGER = 2.0  # seconds a closing connection keeps discarding input
MAX_READ = 256 * 1024  # the most uvloop hands to data_received at once
MAX_UPGRADE_BUFFER = 64 * 1024


class _Stop(Exception):
    """Raised from a parser callback to stop llhttp after a request was refused."""


class Listener:
    """What every connection accepted on one proxy socket shares (precomputed once)."""

    __slots__ = ("counted_from", "forwarded", "max_head", "max_headers", "number", "port", "scheme", "tls")

    def __init__(self, port: int, max_head: int, max_headers: int, tls: bool = False) -> None:
        self.number = port
        self.port = str(port).encode()
        self.tls = tls
        self.scheme = b"https" if tls else b"http"
        self.forwarded = b"X-Forwarded-Proto: " + self.scheme + b"\r\nX-Forwarded-Port: " + self.port + b"\r\n"
        self.max_head = max_head
        self.max_headers = max_headers
        self.counted_from = 4 * max_headers  # a head this small cannot have too many fields ("a:" CR LF each)


class ClientConnection(asyncio.Protocol):
    __slots__ = (
        "active", "after_read", "began", "broken", "client_eof", "closed", "feeding", "forwarded", "head_bytes",
        "head_mark", "head_since", "ip", "ip_text", "lingering", "listener", "mark", "mark_time", "nreq",
        "on_header", "parser", "parsing", "pause_flags", "progress", "queue", "received", "recent", "sni", "state",
        "transport", "trusted", "tunneled", "upgraded", "url", "waiting", "write_paused_at", "writing_paused",
    )

    transport: asyncio.Transport  # (set by connection_made)

    def __init__(self, state: WorkerState, listener: Listener) -> None:
        self.state = state
        self.listener = listener
        self.received = Received(REQUEST_KINDS, request_kind)
        self.on_header = self.received.receive  # (httptools takes its callbacks when the parser is made)
        self.parser = HttpRequestParser(self)
        self.ip = b""
        self.ip_text = ""
        self.forwarded = b""
        self.trusted = False
        self.sni: str | None = None  # the server name a TLS client indicated (routes' `snis`)
        self.closed = self.client_eof = self.feeding = self.began = self.broken = self.lingering = False
        self.tunneled = self.writing_paused = False
        self.active: Exchange | None = None  # the exchange whose response goes out now
        self.parsing: Exchange | None = None  # the exchange whose request body is being read
        self.queue: deque[Exchange] | None = None  # pipelined exchanges waiting for their turn
        self.after_read: list[Callable[[], None]] | None = None
        self.waiting: Waiting | None = None  # while no request is under way (see state.Waiting)
        self.pause_flags = 0
        self.write_paused_at = 0.0
        self.upgraded: bytearray | None = None
        self.recent: Recent = []  # (see memo.Memo.recall)
        # Timeout bookkeeping, read by the worker tick (see check()).
        self.progress = self.mark = self.nreq = 0
        self.mark_time = state.now
        self.head_mark = -1
        self.head_since = 0.0
        self.url = b""
        self.head_bytes = 0  # bytes read while a head was incomplete (llhttp buffers partial lines)

    @property
    def scheme(self) -> bytes:
        return self.listener.scheme

    @property
    def port(self) -> bytes:
        return self.listener.port

    @property
    def port_number(self) -> int:
        return self.listener.number

    # ---- asyncio.Protocol --------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.ip_text = peer[0] if isinstance(peer, tuple) else "unix"
        self.ip = self.ip_text.encode()
        self.forwarded = (b"X-Forwarded-For: " + self.ip + b"\r\nX-Real-IP: " + self.ip + b"\r\n"
                          + self.listener.forwarded + b"X-Forwarded-Host: ")  # what every request of it gets
        state = self.state
        self.trusted = self.ip_text in state.trusted
        if self.listener.tls:  # (the handshake is done: asyncio calls this after it)
            self.sni = indicated_name(transport.get_extra_info("ssl_object"))
        self._wait(state.fresh)
        state.accepted += 1
        state.handled += 1
        if state.draining:
            transport.close()

    def data_received(self, data: bytes) -> None:
        self.progress += 1
        if self.waiting is not None:
            self._busy()
        if self.broken:
            return  # refused or lingering: input is discarded
        if self.upgraded is not None:
            self._buffer_upgrade(data)
            return
        self.head_bytes = self.head_bytes + len(data) if self.began else len(data)
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
        if self.after_read is not None:
            callbacks, self.after_read = self.after_read, None
            for callback in callbacks:
                callback()
        if self.began and self.head_bytes > self.listener.max_head + MAX_READ and not self.broken:
            # A head still incomplete after more than the limit of input beyond the read it started
            # in (llhttp buffers a partial line itself): certainly too large, and memory stays bounded.
            self._refuse(431, errors.HEADERS_TOO_LARGE)

    def at_end_of_read(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the current read is parsed (writes then go out at once)."""
        if self.after_read is None:
            self.after_read = [callback]
        else:
            self.after_read.append(callback)

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
        self._forget()
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

    # ---- httptools callbacks (on_header: self.received) --------------------------------------------
    def on_url(self, url: bytes) -> None:
        self.url += url
        self.began = True  # (the method may have arrived before; llhttp does not buffer it)

    def on_headers_complete(self) -> None:
        self.began = False
        self.nreq += 1
        url, self.url = self.url, b""
        received, listener, state = self.received, self.listener, self.state
        try:
            head_bytes = self.head_bytes  # (an upper bound: the input read while the head was incomplete)
            if head_bytes > listener.max_head or (head_bytes > listener.counted_from
                                                  and len(received) > listener.max_headers):
                check_size(url, received, listener.max_head, listener.max_headers)
            head = admit(self.parser, url, received, state.seen, state.draining)
        except Refused as refused:
            self._refuse(refused.status, refused.message)
            raise _Stop from None
        self._dispatch(head)

    def on_body(self, body: bytes) -> None:
        exchange = self.parsing
        if exchange is not None:
            exchange.on_request_body(body)

    def on_message_complete(self) -> None:
        exchange, self.parsing = self.parsing, None
        if exchange is not None:
            exchange.on_request_complete()

    # ---- stages ------------------------------------------------------------------------------------
    def _dispatch(self, head: RequestHead) -> None:
        """Route the request and start its exchange, or queue it behind the one being answered."""
        runtime = self.state.runtime
        if runtime is None:
            exchange = Exchange.answer(self, head, 503, errors.NO_CONFIG)
        else:
            router = runtime.tls_router if self.listener.tls else runtime.router
            match = router.match(head.method, head.host, head.path,
                                 head.route_headers() if router.header_names else None, self.sni)
            if match is None:
                exchange = Exchange.answer(self, head, 404, errors.NO_ROUTE)
            else:
                matcher, found = match
                route = matcher.target
                if route.https_only and not self.listener.tls:
                    status, message = _https_redirect(route.entity.https_redirect_status_code, head)
                    exchange = Exchange.answer(self, head, status, message, route)
                else:
                    exchange = Exchange(self, head, route, matcher, found)
                if route.tracer is not None:  # before any plugin: the phases are timed, traceparent forwarded
                    begin_trace(exchange, route.tracer)
        self.parsing = exchange
        self._enqueue(exchange)

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
        exchange = Exchange.answer(self, RequestHead.empty(b"" if self.began else self.parser.get_method()),
                                   status, message)
        self.broken = True
        self.began = False
        self.parsing = None
        self._enqueue(exchange)

    def _malformed(self) -> None:
        """llhttp refused the input: 400, or end the request whose body broke."""
        parsing = self.parsing
        self.broken = True
        self.began = False
        self.parsing = None
        if parsing is not None and not parsing.finished:
            parsing.fail(400, errors.BAD_REQUEST)
        else:
            self._enqueue(Exchange.answer(self, RequestHead.empty(), 400, errors.BAD_REQUEST))

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

    # ---- waiting and busy (see state.Waiting) ------------------------------------------------------
    # A connection is busy from its first byte of a request; the tick finds the busy ones that have no
    # request under way and lists them as waiting, so a request costs no bookkeeping of its own.
    def _wait(self, waiting: Waiting) -> None:
        self.state.busy.discard(self)
        self.waiting = waiting
        waiting.since[self] = self.state.now

    def _busy(self) -> None:
        waiting = self.waiting
        if waiting is not None:
            del waiting.since[self]
            self.waiting = None
        self.state.busy.add(self)

    def _forget(self) -> None:
        if self.waiting is not None:
            del self.waiting.since[self]
            self.waiting = None
        self.state.busy.discard(self)

    # ---- protocol upgrades -------------------------------------------------------------------------
    def _buffer_upgrade(self, data: bytes) -> None:
        buffer = self.upgraded
        if buffer is not None:
            buffer += data
            if len(buffer) > MAX_UPGRADE_BUFFER:
                self.pause(PAUSE_BUFFER)

    def start_tunnel(self, upstream: UpstreamConnection) -> None:
        """The upstream switched protocols: from now on bytes are relayed as they are."""
        state = self.state
        self.tunneled = True
        self._forget()
        upstream.upgraded_to = self.transport
        early = bytes(self.upgraded or b"")
        self.upgraded = None
        self.pause_flags = 0
        state.tunnels.update(splice(self.transport, upstream.transport, early, state.tunnels.discard))

    # ---- closing, pausing --------------------------------------------------------------------------
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

    def close(self) -> None:
        if not self.closed:
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

    # ---- timeouts (from the worker tick, for busy connections) -------------------------------------
    def check(self, now: float) -> None:
        """Enforce client timeouts: head (total time), body (silence), send (no drain), lingering."""
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
                self.broken = True
                self.parsing = None
                parsing.fail(408, errors.TIMEOUT)
            return
        if self.began:
            if self.head_mark != self.nreq:
                self.head_mark = self.nreq
                self.head_since = now
            elif now - self.head_since >= settings.client_header_timeout and active is None:
                self._refuse(408, errors.TIMEOUT)  # a head that never ends (slowloris)
            return
        if active is None and not self.queue:  # between requests, without a byte of the next one yet
            self._wait(self.state.kept if self.nreq else self.state.fresh)  # (its timeout counts from now)

    def state_name(self) -> str:
        if self.active is not None:
            return "writing"
        if self.began or self.parsing is not None:
            return "reading"
        return "waiting"


def _https_redirect(code: int, head: RequestHead) -> tuple[int, str]:
    if code == 426:
        return 426, errors.USE_HTTPS
    return code, "https://" + head.host.decode("latin-1") + head.raw_path.decode("latin-1") + \
        head.query.decode("latin-1")


# Connections the kernel queues while the worker is busy (nginx's default is 511; the kernel caps it at
# net.core.somaxconn). asyncio listens again with its own default (100) unless told, so both use this.
LISTEN_BACKLOG = 4096


async def serve(state: WorkerState, sock: socket.socket, tls: ssl.SSLContext | None = None) -> asyncio.Server:
    """Accept proxy connections on an already bound and listening socket, terminating TLS with `tls`."""
    settings = state.settings
    listener = Listener(sock.getsockname()[1], settings.max_header_size, settings.max_headers, tls is not None)
    return await state.loop.create_server(
        lambda: ClientConnection(state, listener), sock=sock, ssl=tls, backlog=LISTEN_BACKLOG,
        ssl_handshake_timeout=settings.client_header_timeout if tls is not None else None)
