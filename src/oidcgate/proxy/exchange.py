"""One request/response exchange: from a parsed request head to the last byte sent to the client.

Driven by callbacks, not a coroutine: on a route without plugins, a request on a pooled upstream
connection runs without creating a task or a timer, and costs two reads and two writes. Bodies
stream both ways; a side whose peer cannot keep up stops reading (transport.pause_reading) until the
other side's write buffer drains, so memory stays bounded whatever the body size.

Failures before the response head: connection errors are retried `service.retries` times (on the next
target of an upstream) when the request can be replayed: always if nothing was sent yet, else only for
idempotent methods, or any method when a reused keep-alive connection died before answering (the
upstream closed it while idle); then 502 (refused, reset), 504 (timeout) or 503 (DNS, no target).
After the response head: the client connection is closed, since the status is already on the wire.

Rarely used state lives in class attributes (defaults) instead of being set per request: an exchange
without plugins or bodies only pays for the fields it uses.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
from typing import TYPE_CHECKING, Any

from oidcgate.proxy import errors, phases
from oidcgate.proxy.accesslog import FLUSH_AT as LOG_FLUSH_AT
from oidcgate.proxy.errors import STATUS_LINES
from oidcgate.proxy.headers import (
    CONNECTION,
    CONTENT_LENGTH,
    TRANSFER_ENCODING,
    VIA_FIELD,
    VIA_LINE,
    connection_tokens,
    drop_named,
    forwarded_address,
    via,
)
from oidcgate.proxy.metrics import FOLD_AT
from oidcgate.proxy.modes import (
    CHUNK,
    CHUNKED,
    LENGTH,
    NO_BODY,
    PAUSE_BUFFER,
    PAUSE_UPSTREAM,
    RAW,
    TO_BUFFER,
    TO_DISCARD,
    TO_UPSTREAM,
)
from oidcgate.proxy.paths import join_v0, join_v1

if TYPE_CHECKING:
    from oidcgate.config.entities import Consumer
    from oidcgate.plugins.pdk import Context
    from oidcgate.proxy.balancer import Peer
    from oidcgate.proxy.pipeline import Chain, Chosen
    from oidcgate.proxy.router import Matcher
    from oidcgate.proxy.runtime import RouteRuntime, Runtime
    from oidcgate.proxy.server import ClientConnection
    from oidcgate.proxy.upstream import UpstreamConnection

log = logging.getLogger("oidcgate.proxy")

IDEMPOTENT = frozenset({b"GET", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"TRACE"})
BUFFER_LIMIT = 64 * 1024  # request body held while no upstream connection is ready (also the replay limit)
_KEEP_OR_CLOSE = (b"keep-alive", b"close", b"Keep-Alive", b"Close")
# The end of a response head: Via, Connection (for HTTP/1.0 clients or when closing), blank line.
_END_KEEP_ALIVE = {True: VIA_LINE + b"\r\n", False: VIA_LINE + b"Connection: keep-alive\r\n\r\n"}
_END_CLOSE = VIA_LINE + b"Connection: close\r\n\r\n"

_perf = time.perf_counter


class Exchange:
    # What every request uses lives in slots; the rest in the instance dict, with class defaults, so a
    # request only pays for the rare fields it changes.
    __slots__ = ("__dict__", "auth_at", "authorization", "bytes_out", "chosen", "conn", "ctx", "fields", "finished", "held", "host", "host_name", "http11",
                 "keep_alive", "match", "method", "out", "path", "peer", "query", "raw_path", "request_done",
                 "response_complete", "reused", "route", "runtime", "sent_head", "sink", "started", "status",
                 "t0", "t_head", "t_sent", "up_done", "up_out", "upstream")
    local: tuple[int, str] | None = None  # answer this instead of proxying
    xff: bytes | None = None
    xf: dict[bytes, bytes] | None = None
    via: bytes | None = None
    upgrade: bytes | None = None
    body_mode = NO_BODY
    content_length = 0
    expect_continue = False
    continue_sent = False
    body_fixed = False  # a plugin set the body: the upstream gets exactly `pending`
    pending: list[bytes] | tuple[()] = ()
    pending_size = 0
    replay: list[bytes] | tuple[()] | None = None
    connecting: asyncio.Task[Any] | None = None
    task: asyncio.Task[Any] | None = None
    wtimer: asyncio.TimerHandle | None = None
    tries = 0
    resp_mode = RAW
    until_close = False
    deferred: tuple[int, bytes, bytes | None, list[tuple[str, str]] | None] | None = None
    upstream_path: bytes | None = None
    upstream_host: bytes | None = None
    bytes_in = 0
    body_waiter: asyncio.Future[None] | None = None  # a plugin waits in read_body()
    body_limit = -1
    consumer: Consumer | None = None  # the authenticated consumer, kept for the access log
    # For observer plugins (proxy.observers): kept only on the routes that have them.
    credential: dict[str, Any] | None = None  # the consumer's credential (Kong's authenticated_entity)
    log_fields: dict[str, Any] | None = None  # what plugins added to the log entry (ctx.log_fields)
    response_fields: list[bytes] | None = None  # the upstream's response fields, when an observer logs them
    failed: tuple[tuple[Peer, str], ...] = ()  # upstream tries that failed ("tcp" or "timeout"), in order
    trace: Any = None  # the opentelemetry plugin's trace of this request (sampled ones only)

    def __init__(self, conn: ClientConnection, method: bytes, raw_path: bytes, path: bytes, query: bytes,
                 host: bytes, host_name: bytes, fields: list[bytes], http11: bool, keep_alive: bool) -> None:
        self.conn = conn
        self.method = method
        self.raw_path = raw_path
        self.path = path
        self.query = query
        self.host = host
        self.host_name = host_name
        self.fields = fields
        self.http11 = http11
        self.keep_alive = keep_alive
        self.sink = TO_BUFFER
        self.request_done = False
        self.upstream: UpstreamConnection | None = None
        self.status = 0
        self.finished = False
        self.runtime: Runtime | None = None
        self.route: RouteRuntime | None = None
        self.match: tuple[Matcher[RouteRuntime], re.Match[bytes] | None] | None = None
        self.peer: Peer | None = None
        self.up_out: list[bytes] | None = None  # request bytes queued during the client's current read
        self.out: list[bytes] | None = None  # response bytes queued during the upstream's current read
        self.held: list[bytes] | None = None  # response bytes held while the response phase runs
        self.ctx: Context | None = None  # the PDK context, on routes with plugins
        self.chosen: Chosen | None = None  # the plugin instances of this request
        self.started = self.reused = self.sent_head = self.up_done = self.response_complete = False
        self.bytes_out = 0
        self.t_sent = self.t_head = 0.0
        self.t0 = _perf()
        self.auth_at = -1  # where the one Authorization value is in `fields` (-1: none, -2: several)
        self.authorization: bytes | None = None  # that value (the PDK's RawRequest)

    # ------------------------------------------------------------------ start
    def start(self) -> None:
        """Called when this exchange is the connection's active one (responses go out in order)."""
        self.started = True
        if self.local is not None:
            status, message = self.local
            if 300 <= status < 400:  # Kong's https_redirect_status_code
                self.respond(status, b"", None, [("Location", message)])
            else:
                self.respond_error(status, message)
        elif self.route.chain is not None:  # type: ignore[union-attr]
            self.run_chain(self.route.chain)  # type: ignore[union-attr]
        else:
            self.forward()

    def run_chain(self, chain: Chain) -> None:
        """The route's plugins: their shortcuts' answers when every one of them has one, else their phases."""
        if chain.shortcuts is not None and phases.take_shortcuts(self, chain.shortcuts):
            return
        self.runtime.inflight += 1  # type: ignore[union-attr]
        self.chosen = ()  # (released in the log phase)
        phases.before_proxy(self)

    # ------------------------------------------------------------------ the PDK's RequestSource
    def request_text(self) -> list[Any]:
        conn = self.conn
        return [self.method.decode(), self.path.decode("latin-1"), self.query[1:].decode("latin-1"),
                self.host_name.decode("latin-1"), "http", conn.listener.number, conn.ip_text,
                "1.1" if self.http11 else "1.0"]

    def forwarded_ip(self) -> str:
        conn = self.conn
        if self.xff is None or not conn.trusted:
            return conn.ip_text
        return forwarded_address(self.xff, conn.ip_text, conn.state.trusted)

    async def read_body(self, limit: int) -> bytes:
        if self.finished or self.peer is not None:  # answered, or on its way upstream
            raise RuntimeError("the request body can only be read in the rewrite and access phases")
        return await phases.read_body(self, limit)

    def forward(self) -> None:
        service = self.route.service  # type: ignore[union-attr]
        if service is None:
            self.respond_error(503, errors.NO_SERVICE)
            return
        peer = service.peer or service.target.pick()
        if peer is None:
            self.respond_error(503, errors.NO_PEER)
            return
        self.peer = peer
        idle = self.conn.state.pool.idle.get(peer.address)
        while idle:
            upstream = idle.pop()
            if not upstream.closed:
                self.reused = True
                self.attach(upstream)
                return
        self.reused = False
        self.connecting = self.conn.state.spawn(self._connect(peer))

    async def _connect(self, peer: Peer) -> None:
        service = self.route.service  # type: ignore[union-attr]
        try:
            upstream = await self.conn.state.pool.connect(peer.address, service.connect_timeout, service.tls)  # type: ignore[union-attr]
        except TimeoutError:
            self.connecting = None
            self.upstream_failed("timeout", None)
            return
        except socket.gaierror:
            self.connecting = None
            self.respond_error(503, "name resolution failed")
            return
        except OSError:
            self.connecting = None
            self.upstream_failed("tcp", None)
            return
        self.connecting = None
        if self.finished:
            upstream.close()
        else:
            self.attach(upstream)

    # ------------------------------------------------------------------ request towards the upstream
    def attach(self, upstream: UpstreamConnection) -> None:
        """Send the request head (and whatever body is buffered) on `upstream`."""
        self.upstream = upstream
        upstream.exchange = self
        upstream.requests += 1
        head = self._head()
        self.sent_head = True
        conn = self.conn
        if self.body_mode == NO_BODY and self.upgrade is None:  # the head is the whole request
            self.up_done = True
            self.t_sent = _perf()
            timeout = self.route.service.read_timeout  # type: ignore[union-attr]
            if upstream.timer is None or timeout < upstream.timeout:
                upstream.arm(timeout)
            upstream.transport.write(head)  # nothing follows it: no reason to wait for the end of the read
            return
        out = [head]
        if self.expect_continue and not self.request_done and not self.continue_sent:
            self.continue_sent = True
            conn.transport.write(errors.CONTINUE)
        pending = self.pending
        chunked = self.body_mode == CHUNKED
        for chunk in pending:
            if chunked:
                out += (b"%x\r\n" % len(chunk), chunk, b"\r\n")
            else:
                out.append(chunk)
        if self.request_done or self.body_fixed:
            if chunked:
                out.append(b"0\r\n\r\n")
            self.up_done = True
            self.replay = pending if self.pending_size <= BUFFER_LIMIT else None
            self.arm_read_timer(upstream)
        else:
            self.sink = TO_UPSTREAM
        if pending:
            self.pending = ()
            self.pending_size = 0
        self.t_sent = _perf()
        if conn.feeding:  # more may follow in this read: write once at its end
            self.up_out = out
            conn.to_flush = self
        else:
            upstream.transport.write(b"".join(out) if len(out) > 1 else out[0])
        if conn.pause_flags:
            conn.resume(PAUSE_BUFFER)

    def head_size(self) -> int:
        """The request head's size in bytes as forwarded: request line, Host and the other header fields
        (those the proxy writes itself, framing and X-Forwarded-*, are not counted)."""
        return (len(self.method) + len(self.raw_path) + len(self.query) + 14 + sum(map(len, self.fields))
                + (len(self.host) + 8 if self.host else 0))

    def _head(self) -> bytes:
        """The request head for the upstream; per-connection and per-peer pieces are precomputed."""
        route = self.route
        matcher, found = self.match  # type: ignore[misc]
        path = self.upstream_path
        if path is None:
            if route.root_v0 and (matcher.prefix == b"/" or not route.strip):  # type: ignore[union-attr]
                path = self.path  # a service without path and a route on "/" (or not stripping): as is
            else:
                postfix = matcher.postfix_of(self.path, found)
                if postfix is None:
                    postfix = self.path[1:]
                path = (join_v1 if route.v1 else join_v0)(route.service.base, route.strip, postfix, self.path)  # type: ignore[union-attr]
            if route.logged:  # type: ignore[union-attr]
                self.upstream_path = path  # (a log plugin's upstream_uri; a retry sends the same path)
        if self.upstream_host is not None:
            host_line = b" HTTP/1.1\r\nHost: " + self.upstream_host + b"\r\n"
        elif route.preserve_host:  # type: ignore[union-attr]
            host_line = b" HTTP/1.1\r\nHost: " + self.host + b"\r\n"
        else:
            host_line = self.peer.host_line  # type: ignore[union-attr]
        conn = self.conn
        xf = self.xf if conn.trusted else None
        parts = [self.method, b" ", path, self.query, host_line, *self.fields]
        if self.xff is None and xf is None:
            parts += (conn.forwarded, b"X-Forwarded-Host: ", self.host_name, b"\r\nX-Forwarded-Path: ",
                      self.raw_path, b"\r\n")
        else:
            self._forwarded_slow(parts, xf)
        if route.strip:  # type: ignore[union-attr]
            prefix = matcher.prefix if found is None else matcher.prefix_of(self.path, found)
            if prefix and prefix != b"/" and xf is None:
                parts += (b"X-Forwarded-Prefix: ", prefix, b"\r\n")
        parts.append(via(self.via) if self.via else VIA_LINE)
        if self.upgrade is not None:
            parts += (b"Connection: Upgrade\r\nUpgrade: ", self.upgrade, b"\r\n")
        mode = self.body_mode
        if mode == NO_BODY:
            parts.append(b"\r\n")
        elif mode == LENGTH:
            parts.append(b"Content-Length: %d\r\n\r\n" % self.content_length)
        else:
            parts.append(b"Transfer-Encoding: chunked\r\n\r\n")
        return b"".join(parts)

    def _forwarded_slow(self, parts: list[bytes], xf: dict[bytes, bytes] | None) -> None:
        """X-Forwarded-* when the client sent X-Forwarded-For, or is trusted (Kong's trusted_ips)."""
        conn = self.conn
        ip = conn.ip
        parts += (b"X-Forwarded-For: ", self.xff + b", " + ip if self.xff else ip, b"\r\nX-Real-IP: ", ip, b"\r\n")
        if xf is None:
            parts += (conn.listener.forwarded, b"X-Forwarded-Host: ", self.host_name, b"\r\nX-Forwarded-Path: ",
                      self.raw_path, b"\r\n")
            return
        for name, default in ((b"X-Forwarded-Proto", conn.listener.scheme), (b"X-Forwarded-Host", self.host_name),
                              (b"X-Forwarded-Port", conn.listener.port), (b"X-Forwarded-Path", self.raw_path)):
            parts += (name, b": ", xf.get(name.lower(), default), b"\r\n")
        matcher, found = self.match  # type: ignore[misc]
        prefix = xf.get(b"x-forwarded-prefix") or (
            matcher.prefix_of(self.path, found) if self.route.strip else None)  # type: ignore[union-attr]
        if prefix and prefix != b"/":
            parts += (b"X-Forwarded-Prefix: ", prefix, b"\r\n")

    def _queue_up(self, *data: bytes) -> None:
        """Request bytes during the client's read (on_body): written once when the read is processed."""
        out = self.up_out
        if out is None:
            self.up_out = list(data)
            self.conn.to_flush = self
        else:
            out += data

    def flush_up(self) -> None:
        out, self.up_out = self.up_out, None
        upstream = self.upstream
        if out and upstream is not None and not upstream.closed:
            upstream.transport.write(b"".join(out) if len(out) > 1 else out[0])

    # ------------------------------------------------------------------ request body from the client
    def on_request_body(self, chunk: bytes) -> None:
        self.bytes_in += len(chunk)
        sink = self.sink
        if sink == TO_UPSTREAM:
            if self.body_mode == CHUNKED:
                self._queue_up(b"%x\r\n" % len(chunk), chunk, b"\r\n")
            else:
                self._queue_up(chunk)
        elif sink == TO_BUFFER:
            if not self.pending:
                self.pending = []
            self.pending.append(chunk)
            self.pending_size += len(chunk)
            if self.ctx is not None and phases.body_arrived(self):
                return
            if self.pending_size > BUFFER_LIMIT:
                self.conn.pause(PAUSE_BUFFER)

    def on_request_complete(self) -> None:
        self.request_done = True
        if self.sink == TO_UPSTREAM:  # (not for bodiless requests: attach() finished those)
            if self.body_mode == CHUNKED:
                self._queue_up(b"0\r\n\r\n")
            self.up_done = True
            self.arm_read_timer(self.upstream)  # type: ignore[arg-type]
        elif self.ctx is not None:
            phases.body_arrived(self)

    def request_malformed(self) -> None:
        """The client broke HTTP inside this request's body (a bad chunk): 400 unless the answer started."""
        if not self.finished:
            self.fail(400, errors.BAD_REQUEST)

    def fail(self, status: int, message: str) -> None:
        """End this request with an error of the proxy's own and close the connection after it:
        answered when its turn comes if it has not started, else now, stopping its plugins."""
        self.keep_alive = False
        if not self.started:
            self.local = (status, message)
            return
        if self.task is not None:
            self.task.cancel()
            self.task = None
        self.respond_error(status, message)

    # ------------------------------------------------------------------ response from the upstream
    def on_response_head(self, upstream: UpstreamConnection, status: int, fields: list[bytes],
                         special: list[tuple[int, bytes]] | None) -> None:
        """The upstream's response head: `fields` are the end-to-end ones (flat, ready to send),
        `special` the framing, Via and hop-by-hop ones (None for most responses but `Connection`)."""
        if status < 200 and status != 101:  # interim (100 Continue, 103): not forwarded
            return
        if status == 101 and self.upgrade is None:  # switching protocols we never asked for
            self.upstream_invalid(upstream)
            return
        self.t_head = upstream.last_read
        self.status = status
        route = self.route
        if route.tracks:  # type: ignore[union-attr]
            route.service.target.report(self.peer, "ok", status)  # type: ignore[union-attr,arg-type]
        if route.logged:  # type: ignore[union-attr]
            self.response_fields = fields  # (a log plugin's entry; see proxy.observers)
        if not self.request_done:
            self.keep_alive = False  # answered before the whole request body arrived
        length: bytes | None = None
        chunked = False
        received_via: bytes | None = None
        if special is not None:
            for kind, value in special:
                if kind == CONTENT_LENGTH:
                    length = value
                elif kind == TRANSFER_ENCODING:
                    chunked = True
                elif kind == VIA_FIELD:
                    received_via = value
                elif kind == CONNECTION and value not in _KEEP_OR_CLOSE:
                    drop = connection_tokens((value,))
                    if drop:
                        fields = drop_named(fields, drop)
        chain = route.chain  # type: ignore[union-attr]
        ctx = self.ctx
        if ctx is not None and ctx.response_fields:  # what plugins added in the access phase
            fields = fields + ctx.response_fields
        if chain is None:
            self.out = [self.finish_head(fields, status, length, chunked, received_via)]
        elif chain.has_response:
            phases.hold_response(self, status, fields, length, chunked, received_via)
        else:
            if chain.has_log:
                phases.remember_response(self, status, fields)
            self.out = [self.finish_head(fields, status, length, chunked, received_via)]
        if self.method == b"HEAD":
            # llhttp cannot be told a response answers HEAD: end it here, parse the next one afresh.
            upstream.reset_parser()
            self.on_response_complete(upstream, upstream.parser.should_keep_alive())

    def finish_head(self, fields: list[bytes], status: int, length: bytes | None, chunked: bool,
                    received_via: bytes | None) -> bytes:
        """The response head for the client: status line, `fields`, framing, Via and Connection."""
        parts = [STATUS_LINES.get(status) or errors.status_line(status), *fields]
        if status == 101:
            parts += (via(received_via), b"Connection: Upgrade\r\nUpgrade: ", self.upgrade, b"\r\n\r\n")  # type: ignore[arg-type]
            return b"".join(parts)
        if length is not None:
            parts += (b"Content-Length: ", length, b"\r\n")
            if chunked:  # both from the upstream (llhttp refuses it): do not reuse anything
                self.keep_alive = False
        elif self.method == b"HEAD" or status == 204 or status == 304:
            pass  # no body
        else:
            self.until_close = not chunked
            if self.http11:
                parts.append(b"Transfer-Encoding: chunked\r\n")
                self.resp_mode = CHUNK
            else:  # an HTTP/1.0 client: the end of the body is the end of the connection
                self.resp_mode = RAW
                self.keep_alive = False
        if self.keep_alive and not self.conn.state.draining:
            parts.append(_END_KEEP_ALIVE[self.http11] if received_via is None else via(received_via) + (
                b"\r\n" if self.http11 else b"Connection: keep-alive\r\n\r\n"))
        else:
            self.keep_alive = False
            parts.append(_END_CLOSE if received_via is None else via(received_via) + b"Connection: close\r\n\r\n")
        return b"".join(parts)

    def on_response_body(self, body: bytes) -> None:
        out = self.held if self.held is not None else self.out
        if self.resp_mode == CHUNK:
            out += (b"%x\r\n" % len(body), body, b"\r\n")  # type: ignore[operator]
        else:
            out.append(body)  # type: ignore[union-attr]

    def flush_down(self) -> None:
        """Write what the upstream's last read produced, in one write."""
        out = self.out
        if out:
            self.out = []
            data = b"".join(out) if len(out) > 1 else out[0]
            self.bytes_out += len(data)
            if not self.conn.closed:
                self.conn.transport.write(data)

    def on_response_complete(self, upstream: UpstreamConnection, keep_alive: bool) -> None:
        if self.status == 0 or self.finished or self.response_complete:  # an interim response ended
            return
        self.response_complete = True
        self.upstream = None
        upstream.exchange = None
        if self.wtimer is not None or self.held is not None or self.status == 101:
            self._complete_unusual(upstream, keep_alive)
            return
        if keep_alive and self.up_done and not upstream.closed:
            pool = self.conn.state.pool
            idle = pool.idle.get(upstream.address)
            if idle is not None and len(idle) < pool.size and upstream.requests < pool.max_requests:
                upstream.idle_since = pool.now  # (Pool.release, inlined for the common case)
                idle.append(upstream)
            else:
                pool.release(upstream)
        else:
            upstream.close()
        out = self.out
        self.out = None
        if self.resp_mode == CHUNK:
            out.append(b"0\r\n\r\n")  # type: ignore[union-attr]
        if out:
            data = b"".join(out) if len(out) > 1 else out[0]
            self.bytes_out += len(data)
            conn = self.conn
            if not conn.closed:
                conn.transport.write(data)
        self.finished = True
        self._record()
        self.conn.exchange_done(self)

    def _complete_unusual(self, upstream: UpstreamConnection, keep_alive: bool) -> None:
        """The end of a response with a write timer running, a response phase pending, or a 101."""
        if self.wtimer is not None:
            self.wtimer.cancel()
            self.wtimer = None
        if self.status == 101:
            self.flush_down()
            self.conn.start_tunnel(upstream)
            self.complete()
            return
        held = self.held is not None
        if held:  # the response phase is still running; it finishes the exchange
            upstream.transport.resume_reading()  # (paused meanwhile; the connection goes back to the pool)
        if keep_alive and self.up_done and not upstream.closed:
            self.conn.state.pool.release(upstream)
        else:
            upstream.close()
        if held:
            return
        if self.resp_mode == CHUNK:
            self.out.append(b"0\r\n\r\n")  # type: ignore[union-attr]
        self.flush_down()
        self.complete()

    # ------------------------------------------------------------------ upstream failures and timers
    def arm_read_timer(self, upstream: UpstreamConnection) -> None:
        """Service `read_timeout` (nginx semantics: the longest silence from the upstream once the
        request is sent). One lazily re-armed timer per upstream connection, not one per request."""
        timeout = self.route.service.read_timeout  # type: ignore[union-attr]
        if upstream.timer is None or timeout < upstream.timeout:
            upstream.arm(timeout)

    def upstream_paused(self) -> None:
        """The upstream's write buffer is full: stop reading the client's body until it drains, and
        give the upstream `write_timeout` to take more (nginx's proxy_send_timeout)."""
        self.conn.pause(PAUSE_UPSTREAM)
        if self.wtimer is None and self.upstream is not None:
            self.wtimer = self.conn.state.loop.call_later(
                self.route.service.write_timeout, self.upstream_failed, "timeout", self.upstream)  # type: ignore[union-attr]

    def upstream_resumed(self) -> None:
        if self.wtimer is not None:
            self.wtimer.cancel()
            self.wtimer = None
        self.conn.resume(PAUSE_UPSTREAM)

    def upstream_lost(self, upstream: UpstreamConnection) -> None:
        if self.finished or self.response_complete:
            return
        if self.status and self.until_close:
            self.on_response_complete(upstream, False)  # the close ends a body without framing
            return
        self.upstream_failed("tcp", upstream)

    def upstream_invalid(self, upstream: UpstreamConnection) -> None:
        """The upstream sent something that is not HTTP/1.1: 502, never retried."""
        upstream.abort()
        self.upstream = None
        if self.finished:
            return
        if self.peer is not None and self.route.service.target.tracks:  # type: ignore[union-attr]
            self.route.service.target.report(self.peer, "tcp")  # type: ignore[union-attr]
        if self.status:
            self.conn.abort()
            self.abandon(self.status)
        else:
            self.respond_error(502, errors.BAD_GATEWAY)

    def upstream_failed(self, kind: str, upstream: UpstreamConnection | None) -> None:
        """A connection failed ("tcp") or timed out ("timeout"): retry, or answer 502/504."""
        if self.wtimer is not None:
            self.wtimer.cancel()
            self.wtimer = None
        if upstream is not None:
            upstream.abort()
        self.upstream = None
        if self.finished:
            return
        service = self.route.service  # type: ignore[union-attr]
        if self.peer is not None:
            self.failed = (*self.failed, (self.peer, kind))  # (the log serializer's `tries`)
            if service.target.tracks:  # type: ignore[union-attr]
                service.target.report(self.peer, kind)  # type: ignore[union-attr]
        if self.status:  # the response head is already with the client
            self.conn.abort()
            self.abandon(self.status)
            return
        if self._can_retry(kind, upstream):
            self.tries += 1
            if self.sent_head:
                self.pending = list(self.replay or ())
                self.pending_size = sum(map(len, self.pending))
                self.sent_head = self.up_done = False
                self.sink = TO_BUFFER
            self.forward()
            return
        if kind == "timeout":
            self.respond_error(504, errors.GATEWAY_TIMEOUT)
        else:
            self.respond_error(502, errors.BAD_GATEWAY)

    def _can_retry(self, kind: str, upstream: UpstreamConnection | None) -> bool:
        if self.tries >= self.route.service.retries:  # type: ignore[union-attr]
            return False
        if not self.sent_head:
            return True  # nothing reached the upstream
        if kind == "timeout" or not self.up_done or (self.replay is None and self.body_mode != NO_BODY):
            return False  # the upstream may be working on it, or the body is gone
        stale = self.reused and upstream is not None and upstream.last_read < self.t_sent
        return self.method in IDEMPOTENT or stale

    def drop_upstream(self) -> None:
        if self.wtimer is not None:
            self.wtimer.cancel()
            self.wtimer = None
        if self.connecting is not None:
            self.connecting.cancel()
            self.connecting = None
        if self.upstream is not None:
            self.upstream.abort()
            self.upstream = None

    # ------------------------------------------------------------------ local responses
    def respond_error(self, status: int, message: str) -> None:
        self.respond(status, errors.message_body(message))

    def respond(self, status: int, body: bytes, content_type: bytes | None = errors.JSON,
                headers: list[tuple[str, str]] | None = None) -> None:
        """Answer with a response of our own (error, plugin exit). Waits for the end of the current
        read when the request body is still arriving, so a small body does not cost the keep-alive."""
        if self.finished:
            return
        if self.status and self.held is None:  # the upstream's response already started
            self.conn.abort()
            self.abandon(self.status)
            return
        self.held = None
        self.drop_upstream()
        self.sink = TO_DISCARD
        self.pending = ()
        self.pending_size = 0
        conn = self.conn
        if conn.pause_flags:
            conn.resume(PAUSE_BUFFER)
        if not self.request_done and conn.feeding:
            self.deferred = (status, body, content_type, headers)
            conn.deferred.append(self)
            return
        self._send_local(status, body, content_type, headers)

    def flush_deferred(self) -> None:
        deferred, self.deferred = self.deferred, None
        if deferred is not None and not self.finished:
            self._send_local(*deferred)

    def _send_local(self, status: int, body: bytes, content_type: bytes | None,
                    headers: list[tuple[str, str]] | None) -> None:
        state = self.conn.state
        if not self.request_done or state.draining:
            self.keep_alive = False
        self.status = status
        head_only = self.method == b"HEAD"
        if headers is None and content_type is errors.JSON:
            data = errors.cached(status, body, not self.keep_alive, state.date, head_only)
        else:
            data = errors.render(status, body, close=not self.keep_alive, content_type=content_type,
                                 headers=headers, date=state.date, head_only=head_only)
        self.bytes_out += len(data)
        if not self.conn.closed:
            self.conn.transport.write(data)
        self.complete()

    # ------------------------------------------------------------------ the end
    def complete(self) -> None:
        if self.finished:
            return
        self.finished = True
        self._record()
        self.conn.exchange_done(self)

    def abandon(self, status: int) -> None:
        """End without a proper response (the client left, or the connection had to be cut)."""
        if self.finished:
            return
        self.finished = True
        self.drop_upstream()
        if self.task is not None:
            self.task.cancel()
            self.task = None
        if self.ctx is not None:
            phases.cancel_body_wait(self)
        self.status = status
        self.keep_alive = False
        self._record()
        self.conn.exchange_done(self)

    def _record(self) -> None:
        """The route's counters (analytics' and the prometheus plugin's: proxy.metrics; folded later by the
        worker tick), the log phase, the consumer's count for analytics, the route's observer plugins (log
        and trace plugins: proxy.observers) and the access log (formatted later by the worker tick)."""
        end = _perf()
        route = self.route
        stats = route.stats if route is not None else self.conn.state.stats.unmatched
        status = self.status
        t_head = self.t_head
        codes = stats.codes
        code = status if t_head else -status  # negative: the gateway answered itself (prometheus' source)
        codes[code] = codes.get(code, 0) + 1
        t0 = self.t0
        total = (end - t0) * 1000.0
        pending = stats.pending_total
        pending.append(total)
        if t_head:
            stats.pending_upstream.append((t_head - self.t_sent) * 1000.0)
        kong = stats.pending_kong
        if kong is not None:  # prometheus exports latencies: Kong's kong latency, until sent upstream
            kong.append((self.t_sent - t0) * 1000.0 if t_head else total)
        if len(pending) >= FOLD_AT:
            stats.fold()  # in small batches: never a long pause
        if self.chosen is not None:
            phases.log_phase(self)  # (sets self.consumer from the plugins' context)
        if self.consumer is not None:  # analytics: requests by consumer
            self.conn.state.usage.record(stats, self.consumer, status, total)
        if route is not None:
            observe = route.observe
        else:  # the global observers see requests that matched no route (none answered by the parser)
            observe = self.runtime.unmatched if self.runtime is not None else None
        if observe is not None:
            observe(self, end)
        access_log = self.conn.state.access_log
        if access_log.enabled:
            finished = access_log.pending
            finished.append((self, end))
            if len(finished) >= LOG_FLUSH_AT:
                access_log.flush()
