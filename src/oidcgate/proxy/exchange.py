"""One request/response exchange: from a checked request head to the last byte written to the client.

Stages, in order: `start` (answer locally, run the route's plugins, or go straight on) → `forward`
(pick the peer, take a pooled connection or open one) → `attach` (send the head, forward.request_head,
then the body as it arrives) → `on_response_head` (reply.client_head) and `on_response_body` →
`on_response_complete` (the connection back to the pool, the response written) → `finish` (metrics and
access log, the plugins' log phase, the client connection goes on).

Driven by callbacks, not a coroutine: on a route without plugins, a request on a pooled upstream
connection runs without creating a task or a timer, and costs two reads and two writes. Bodies stream
both ways; a side whose peer cannot keep up stops reading (transport.pause_reading) until the other
side's write buffer drains, so memory stays bounded whatever the body size.

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
import re
import socket
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from oidcgate.http.fields import Encoded, HeaderFields, encode_field
from oidcgate.plugins.log_serializer import Finished
from oidcgate.plugins.pdk import Context, HeaderView, PluginExit, Request, ServiceRequest
from oidcgate.proxy import errors, forward
from oidcgate.proxy.headers import RESPONSE_OWNED, forwarded_address, owns_any, take_owned
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
from oidcgate.proxy.phases import PluginRun, replay
from oidcgate.proxy.record import BATCH
from oidcgate.proxy.reply import Aside, client_head

if TYPE_CHECKING:
    from oidcgate.config.entities import Consumer
    from oidcgate.proxy.balancer import Balancer, Fixed, Peer
    from oidcgate.proxy.head import RequestHead
    from oidcgate.proxy.memo import Recent
    from oidcgate.proxy.router import Matcher
    from oidcgate.proxy.runtime import RouteRuntime, Runtime
    from oidcgate.proxy.state import WorkerState
    from oidcgate.proxy.upstream import UpstreamConnection

IDEMPOTENT = frozenset({b"GET", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"TRACE"})
BUFFER_LIMIT = 64 * 1024  # request body held while no upstream connection is ready (also the replay limit)

_perf = time.perf_counter


class Client(forward.Client, Protocol):
    """What an exchange needs of its client connection."""

    state: WorkerState
    transport: asyncio.Transport
    ip_text: str
    feeding: bool  # inside data_received: writes wait for the end of the read (see at_end_of_read)
    closed: bool
    writing_paused: bool
    pause_flags: int
    recent: Recent  # the recorded decisions its previous request took (see memo.Memo.recall)

    @property
    def port_number(self) -> int: ...

    def at_end_of_read(self, callback: Callable[[], None]) -> None: ...

    def pause(self, flag: int) -> None: ...

    def resume(self, flag: int) -> None: ...

    def exchange_done(self, exchange: Exchange) -> None: ...

    def start_tunnel(self, upstream: UpstreamConnection) -> None: ...

    def abort(self) -> None: ...


class Exchange:
    # What every request sets is set in __init__; the rare fields have their defaults here.
    local: tuple[int, str] | None = None  # answer this instead of proxying
    sink = TO_BUFFER  # where request body bytes go
    pending: list[bytes] | tuple[()] = ()  # request body held (no upstream yet, or for a plugin)
    pending_size = 0
    body_fixed = False  # a plugin set the body: the upstream gets exactly `pending`
    continue_sent = False
    retry_body: Sequence[bytes] | None = None  # the body sent, for a retry (see tests/test_compiled.py: one type or None)
    up_out: list[bytes] | None = None  # request bytes queued during the client's current read
    connecting: asyncio.Task[Any] | None = None
    wtimer: asyncio.TimerHandle | None = None
    tries = 0
    reused = False
    body_mode = NO_BODY
    content_length = 0
    resp_mode = RAW
    until_close = False
    held: list[bytes] | None = None  # response body held while the response phase runs
    held_aside: Aside = None  # the framing fields of a held response
    deferred: tuple[int, bytes, bytes | None, list[tuple[str, str]] | None] | None = None
    upstream_path: bytes | None = None
    upstream_host: bytes | None = None
    bytes_in = 0
    body_waiter: asyncio.Future[None] | None = None  # a plugin waits in read_body()
    body_limit = -1
    consumer: Consumer | None = None  # the authenticated consumer, for the access log
    runtime: Runtime | None = None  # whose plugin instances this exchange uses (see Runtime.release)
    # For observer plugins (proxy.observers), kept only on the routes that log (RouteRuntime.logged):
    credential: dict[str, Any] | None = None  # the consumer's credential (Kong's authenticated_entity)
    log_fields: dict[str, Any] | None = None  # what plugins added to the log entry (ctx.log_fields)
    response_fields: HeaderFields | None = None  # the upstream's response fields
    failed: tuple[tuple[Peer, str], ...] = ()  # upstream tries that failed ("tcp" or "timeout"), in order
    trace: Any = None  # the opentelemetry plugin's trace of this request (sampled ones only)

    def __init__(self, conn: Client, head: RequestHead, route: RouteRuntime, matcher: Matcher[RouteRuntime] | None,
                 found: re.Match[bytes] | None) -> None:
        self.conn = conn
        self.head = head
        self.route = route
        self.matcher = matcher  # (None for a local answer: never forwarded)
        self.found = found
        self.method, self.query, self.fields = head.method, head.query, head.fields
        self.keep_alive = head.keep_alive
        self.started = self.finished = self.request_done = self.sent_head = self.up_done = False
        self.response_complete = False
        self.status = self.bytes_out = 0
        self.upstream: UpstreamConnection | None = None
        self.peer: Peer | None = None
        self.plugins: PluginRun | None = None
        self.affinity: tuple[str, Encoded] | None = None  # the balancer's new cookie: its value, its Set-Cookie
        self.out: list[bytes] | None = None  # response bytes queued during the upstream's current read
        self.t_sent = self.t_head = 0.0
        self.t0 = _perf()
        if head.body_mode != NO_BODY:
            self.body_mode, self.content_length = head.body_mode, head.content_length

    @classmethod
    def answer(cls, conn: Client, head: RequestHead, status: int, message: str,
               route: RouteRuntime | None = None) -> Exchange:
        """An exchange answered by the proxy itself (an error, a redirect) when its turn comes; counted
        under `route` (by default: that of requests no route matched)."""
        exchange = cls(conn, head, route or conn.state.unmatched, None, None)
        exchange.local = (status, message)
        return exchange

    # ---- start ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Called when this exchange is the connection's active one (responses go out in order)."""
        self.started = True
        if self.local is not None:
            status, message = self.local
            if 300 <= status < 400:  # Kong's https_redirect_status_code
                self.respond(status, b"", None, [("Location", message)])
            else:
                self.respond_error(status, message)
        else:
            chain = self.route.chain
            if chain is None:
                self.forward()
                return
            replayed = (replay(chain, self.head, self.fields, self.conn.recent)
                        if chain.replay_memos and self.trace is None else None)
            if replayed is None:
                self._run_plugins()
                return
            self.fields, who = replayed  # every decision recorded: the plugins need not run
            self.consumer = who[0]
            if self.route.logged:
                self.credential = who[1]
            self.forward()

    def _run_plugins(self) -> None:
        route, runtime = self.route, self.conn.state.runtime
        assert route.chain is not None and runtime is not None
        ctx = Context(self._request(), route.entity, route.service.entity if route.service else None,
                      runtime.consumers)
        if self.found is not None:
            ctx.shared["uri_captures"] = self.uri_captures()  # Kong's named groups of a regex path
        runtime.inflight += 1  # (released when this exchange finishes)
        self.runtime = runtime
        self.plugins = PluginRun(self, self.head, route.chain, ctx, self.trace)
        self.plugins.start()

    def _request(self) -> Request:
        """The PDK's view of what the client sent: its fields, and those the proxy writes itself."""
        head = self.head
        if head.xff is None and head.xf is None and head.via is None:
            return Request.of(self, HeaderView.over(head.fields), self.fields)
        shown = head.fields.copy()
        for name, value in ((b"X-Forwarded-For", head.xff), (b"Via", head.via), *(head.xf or {}).items()):
            if value is not None:
                shown.add(name.decode("latin-1"), value.decode("latin-1"))
        return Request.of(self, HeaderView.over(shown), self.fields)

    # ---- what plugins see of the request (pdk.RequestSource, observers.Traceable) -------------------
    @property
    def client_fields(self) -> HeaderFields:
        return self.head.fields

    def request_text(self) -> list[Any]:
        head, conn = self.head, self.conn
        return [head.method.decode(), head.path.decode("latin-1"), head.query[1:].decode("latin-1"),
                head.host_name.decode("latin-1"), conn.scheme.decode(), conn.port_number, conn.ip_text,
                "1.1" if head.http11 else "1.0"]

    def target_parts(self) -> tuple[bytes, bytes]:
        return self.head.path, self.head.query

    def attached_consumer(self) -> Consumer | None:
        """Who the plugins authenticated so far (the balancer's `hash_on: consumer`)."""
        return self.plugins.ctx.consumer if self.plugins is not None else self.consumer

    def uri_captures(self) -> dict[str, str]:
        return self.matcher.captures(self.found) if self.matcher is not None else {}

    def affinity_cookie(self, name: str, path: str) -> str:
        """A new value for the balancer's cookie (Kong's `hash_on: cookie`), the same for every try of this
        request; the upstream's response carries it to the client."""
        if self.affinity is None:
            value = str(uuid.uuid4())
            self.affinity = value, encode_field("Set-Cookie", f"{name}={value}; Path={path}")
        return self.affinity[0]

    def forwarded_ip(self) -> str:
        conn = self.conn
        if self.head.xff is None or not conn.trusted:
            return conn.ip_text
        return forwarded_address(self.head.xff, conn.ip_text, conn.state.trusted)

    async def read_body(self, limit: int) -> bytes:
        """The whole request body for a plugin (`ctx.request.read_body`); 413 beyond `limit`."""
        if self.finished or self.peer is not None:  # answered, or on its way upstream
            raise RuntimeError("the request body can only be read in the rewrite and access phases")
        if not self.request_done:
            conn = self.conn
            self._send_continue()
            self.body_limit = limit
            waiter = self.body_waiter = conn.state.loop.create_future()
            conn.resume(PAUSE_BUFFER)
            self._body_arrived()
            try:
                await waiter
            finally:
                self.body_waiter = None
        if self.pending_size > limit:
            self.keep_alive = False
            raise PluginExit(413, {"message": errors.TOO_LARGE})
        body = b"".join(self.pending)
        self.pending = ()
        self.pending_size = 0
        return body

    def _body_arrived(self) -> bool:
        """Body bytes arrived while a plugin may be waiting in read_body; True if one is."""
        waiter = self.body_waiter
        if waiter is None:
            return False
        if (self.request_done or self.pending_size > self.body_limit) and not waiter.done():
            waiter.set_result(None)
        return True

    # ---- the plugins' run (phases.Host) -----------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        return self.conn.state.spawn(coro)

    def proceed(self, upstream: ServiceRequest | None) -> None:
        """Forward the request as the plugins left it. A `Host` a plugin set becomes the upstream Host;
        the fields the proxy owns are written by the proxy whatever a plugin did to them."""
        if upstream is not None:
            self._take_edits(upstream)
        self.forward()

    def _take_edits(self, upstream: ServiceRequest) -> None:
        if upstream.method_changed is not None:
            self.method = upstream.method_changed.encode()
        if upstream.query_changed is not None:
            self.query = b"?" + upstream.query_changed.encode("latin-1") if upstream.query_changed else b""
        if upstream.path is not None:
            self.upstream_path = upstream.path.encode("latin-1")
        headers = upstream.headers_changed
        if headers is not None:
            self.fields = headers.fields
            if headers.added is None or owns_any(headers.added):  # (the client's hold none the proxy owns)
                self.upstream_host = take_owned(self.fields) or self.upstream_host
        body = upstream.body
        if body is not None:
            self.pending = [body] if body else []
            self.pending_size = self.content_length = len(body)
            self.body_mode = LENGTH
            self.body_fixed = True
            if not self.request_done:  # a body replaced before it was read: drop the client's
                self.sink = TO_DISCARD
                self.keep_alive = False

    def release_response(self, status: int, fields: HeaderFields) -> None:
        """The response phase ran: the held response goes out with this head (framing and hop-by-hop
        fields are the proxy's, whatever a plugin did)."""
        fields.remove_all(RESPONSE_OWNED)
        self.status = status
        held, self.held = self.held or [], None
        self.out = [client_head(self, status, fields, self.held_aside, self.conn.state.draining), *held]
        if self.response_complete:
            if self.resp_mode == CHUNK:
                self.out.append(b"0\r\n\r\n")
            self.flush_down()
            self.finish()
            return
        self.flush_down()
        if self.upstream is not None:
            self.upstream.transport.resume_reading()

    # ---- towards the upstream ----------------------------------------------------------------------
    def forward(self) -> None:
        service = self.route.service
        if service is None:
            self.respond_error(503, errors.NO_SERVICE)
            return
        peer = service.peer or self._balanced(service.target)
        if peer is None:
            self.respond_error(503, errors.NO_PEER)
            return
        self.peer = peer
        upstream = self.conn.state.pool.take(peer.address)
        if upstream is not None:
            self.reused = True
            self.attach(upstream)
            return
        self.reused = False
        self.connecting = self.spawn(self._connect(peer))

    def _balanced(self, balancer: Fixed | Balancer) -> Peer | None:
        """This try's target from an upstream's balancer (the one before it, if any, has ended)."""
        previous = self.peer
        if previous is not None and previous.counting:
            previous.active -= 1
        self.peer = None
        peer = balancer.choose(self, [tried for tried, _ in self.failed])
        if peer is not None and peer.counting:
            peer.active += 1
        return peer

    async def _connect(self, peer: Peer) -> None:
        service = self.route.service
        assert service is not None
        try:
            upstream = await self.conn.state.pool.connect(peer.address, service.connect_timeout, service.tls)
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

    def attach(self, upstream: UpstreamConnection) -> None:
        """Send the request head (and whatever body is buffered) on `upstream`."""
        self.upstream = upstream
        upstream.exchange = self
        upstream.requests += 1
        head = forward.request_head(self)
        self.sent_head = True
        if self.body_mode == NO_BODY and self.head.upgrade is None:  # the head is the whole request
            self.up_done = True
            self.t_sent = _perf()
            self._arm_read_timer(upstream)
            upstream.transport.write(head)  # nothing follows it: no reason to wait for the end of the read
            return
        self._send_with_body(upstream, head)

    def _send_with_body(self, upstream: UpstreamConnection, head: bytes) -> None:
        out = [head]
        if not self.request_done:
            self._send_continue()
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
            self.retry_body = pending if self.pending_size <= BUFFER_LIMIT else None
            self._arm_read_timer(upstream)
        else:
            self.sink = TO_UPSTREAM
        if pending:
            self.pending = ()
            self.pending_size = 0
        self.t_sent = _perf()
        self._queue_up(*out)
        conn = self.conn
        if conn.pause_flags:
            conn.resume(PAUSE_BUFFER)

    def _send_continue(self) -> None:
        if self.head.expect_continue and not self.continue_sent:
            self.continue_sent = True
            self.conn.transport.write(errors.CONTINUE)

    def _arm_read_timer(self, upstream: UpstreamConnection) -> None:
        """Service `read_timeout` (nginx semantics: the longest silence from the upstream once the
        request is sent). One lazily re-armed timer per upstream connection, not one per request."""
        service = self.route.service
        assert service is not None
        if upstream.timer is None or service.read_timeout < upstream.timeout:
            upstream.arm(service.read_timeout)

    def _queue_up(self, *data: bytes) -> None:
        """Request bytes: written at once, or once at the end of the client's current read."""
        out = self.up_out
        if out is not None:
            out += data
        elif self.conn.feeding:
            self.up_out = list(data)
            self.conn.at_end_of_read(self._flush_up)
        else:
            self.up_out = list(data)
            self._flush_up()

    def _flush_up(self) -> None:
        out, self.up_out = self.up_out, None
        upstream = self.upstream
        if out and upstream is not None and not upstream.closed:
            upstream.transport.write(b"".join(out) if len(out) > 1 else out[0])

    # ---- the request body, from the client ---------------------------------------------------------
    def on_request_body(self, chunk: bytes) -> None:
        self.bytes_in += len(chunk)
        sink = self.sink
        if sink == TO_UPSTREAM:
            if self.body_mode == CHUNKED:
                self._queue_up(b"%x\r\n" % len(chunk), chunk, b"\r\n")
            else:
                self._queue_up(chunk)
        elif sink == TO_BUFFER:
            pending = self.pending
            if not isinstance(pending, list):
                pending = self.pending = []
            pending.append(chunk)
            self.pending_size += len(chunk)
            if self._body_arrived():
                return
            if self.pending_size > BUFFER_LIMIT:
                self.conn.pause(PAUSE_BUFFER)

    def on_request_complete(self) -> None:
        self.request_done = True
        if self.sink == TO_UPSTREAM:  # (not for bodiless requests: attach() finished those)
            if self.body_mode == CHUNKED:
                self._queue_up(b"0\r\n\r\n")
            self.up_done = True
            if self.upstream is not None:
                self._arm_read_timer(self.upstream)
        elif self.body_waiter is not None:
            self._body_arrived()

    def fail(self, status: int, message: str) -> None:
        """End this request with an error of the proxy's own and close the connection after it:
        answered when its turn comes if it has not started, else now, stopping its plugins."""
        self.keep_alive = False
        if not self.started:
            self.local = (status, message)
            return
        if self.plugins is not None:
            self.plugins.cancel()
        self.respond_error(status, message)

    # ---- the response, from the upstream (upstream.ResponseSink) -------------------------------------
    def on_response_head(self, upstream: UpstreamConnection, status: int, fields: HeaderFields,
                         aside: list[tuple[int, bytes, bytes]] | None) -> None:
        if status < 200 and status != 101:  # interim (100 Continue, 103): not forwarded
            return
        if status == 101 and self.head.upgrade is None:  # switching protocols we never asked for
            self.upstream_invalid(upstream)
            return
        self.t_head = upstream.last_read
        self.status = status
        route = self.route
        if route.tracks and self.peer is not None and route.service is not None:
            route.service.target.report(self.peer, "ok", status, self.t_head - self.t_sent)
        if route.logged:
            self.response_fields = fields  # (a log plugin's entry; see proxy.observers)
        if not self.request_done:
            self.keep_alive = False  # answered before the whole request body arrived
        if self.affinity is not None:  # (a new client of a balancer hashing on a cookie)
            fields.extend(self.affinity[1])
        plugins = self.plugins
        if plugins is None:
            self.out = [client_head(self, status, fields, aside, self.conn.state.draining)]
        else:
            self._plugins_response(plugins, upstream, status, fields, aside)
        if self.head.method == b"HEAD":
            # llhttp cannot be told a response answers HEAD: end it here, parse the next one afresh.
            upstream.reset_parser()
            self.on_response_complete(upstream, upstream.parser.should_keep_alive())

    def _plugins_response(self, plugins: PluginRun, upstream: UpstreamConnection, status: int,
                          fields: HeaderFields, aside: Aside) -> None:
        ctx = plugins.ctx
        if ctx.response_fields is not None:  # what plugins set in the access phase
            if ctx.response_replaces:
                fields.remove_all(ctx.response_replaces)
            fields.extend(tuple(ctx.response_fields.wire))
        if plugins.chain.has_response:  # held, and the upstream not read, until the response phase ran
            self.held_aside = aside
            self.held = []
            upstream.transport.pause_reading()
            plugins.hold_response(status, fields)
            return
        if plugins.chain.has_log:
            plugins.remember_response(status, fields)
        self.out = [client_head(self, status, fields, aside, self.conn.state.draining)]

    def on_response_body(self, body: bytes) -> None:
        out = self.held if self.held is not None else self.out
        if out is None:
            return
        if self.resp_mode == CHUNK:
            out += (b"%x\r\n" % len(body), body, b"\r\n")
        else:
            out.append(body)

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
        if self.wtimer is not None:
            self.wtimer.cancel()
            self.wtimer = None
        if self.status == 101:
            self.flush_down()
            self.conn.start_tunnel(upstream)
            self.finish()
            return
        if self.held is not None:  # the response phase still runs; release_response finishes
            upstream.transport.resume_reading()  # (paused meanwhile; the connection goes back to the pool)
        if keep_alive and self.up_done and not upstream.closed:
            self.conn.state.pool.release(upstream)
        else:
            upstream.close()
        if self.held is None:
            out = self.out
            if self.resp_mode == CHUNK and out is not None:
                out.append(b"0\r\n\r\n")
            self.flush_down()
            self.finish()

    # ---- upstream failures and timers ------------------------------------------------------------
    def read_deadline(self, last_read: float) -> tuple[float, float]:
        service = self.route.service
        assert service is not None
        timeout = service.read_timeout
        if not self.up_done or self.conn.writing_paused or self.held is not None:
            return timeout, _perf() + timeout  # still sending, or we are the ones not reading
        return timeout, max(self.t_sent, last_read) + timeout

    def read_timed_out(self, upstream: UpstreamConnection) -> None:
        self.upstream_failed("timeout", upstream)

    def upstream_paused(self) -> None:
        """The upstream's write buffer is full: stop reading the client's body until it drains, and
        give the upstream `write_timeout` to take more (nginx's proxy_send_timeout)."""
        self.conn.pause(PAUSE_UPSTREAM)
        service = self.route.service
        if self.wtimer is None and self.upstream is not None and service is not None:
            self.wtimer = self.conn.state.loop.call_later(service.write_timeout, self.upstream_failed, "timeout",
                                                          self.upstream)

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
        self._report(self.peer, "tcp")
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
        self._report(self.peer, kind)
        if self.status:  # the response head is already with the client
            self.conn.abort()
            self.abandon(self.status)
            return
        if self._can_retry(kind, upstream):
            self.tries += 1
            if self.sent_head:
                self.pending = list(self.retry_body or ())
                self.pending_size = sum(map(len, self.pending))
                self.sent_head = self.up_done = False
                self.sink = TO_BUFFER
            self.forward()
            return
        if kind == "timeout":
            self.respond_error(504, errors.GATEWAY_TIMEOUT)
        else:
            self.respond_error(502, errors.BAD_GATEWAY)

    def _report(self, peer: Peer | None, kind: str) -> None:
        """A failed try: for passive health checks and the log serializer's `tries`."""
        if peer is None:
            return
        self.failed = (*self.failed, (peer, kind))
        service = self.route.service
        if service is not None and service.target.tracks:
            service.target.report(peer, kind)

    def _can_retry(self, kind: str, upstream: UpstreamConnection | None) -> bool:
        service = self.route.service
        if service is None or self.tries >= service.retries:
            return False
        if not self.sent_head:
            return True  # nothing reached the upstream
        if kind == "timeout" or not self.up_done or (self.retry_body is None and self.body_mode != NO_BODY):
            return False  # the upstream may be working on it, or the body is gone
        stale = self.reused and upstream is not None and upstream.last_read < self.t_sent
        return self.method in IDEMPOTENT or stale

    def _drop_upstream(self) -> None:
        if self.wtimer is not None:
            self.wtimer.cancel()
            self.wtimer = None
        if self.connecting is not None:
            self.connecting.cancel()
            self.connecting = None
        if self.upstream is not None:
            self.upstream.abort()
            self.upstream = None

    # ---- answers of the proxy's own (and the plugins') ------------------------------------------------
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
        self._drop_upstream()
        self.sink = TO_DISCARD
        self.pending = ()
        self.pending_size = 0
        conn = self.conn
        if conn.pause_flags:
            conn.resume(PAUSE_BUFFER)
        if not self.request_done and conn.feeding:
            self.deferred = (status, body, content_type, headers)
            conn.at_end_of_read(self._send_deferred)
            return
        self._send_local(status, body, content_type, headers)

    def _send_deferred(self) -> None:
        deferred, self.deferred = self.deferred, None
        if deferred is not None and not self.finished:
            self._send_local(*deferred)

    def _send_local(self, status: int, body: bytes, content_type: bytes | None,
                    headers: list[tuple[str, str]] | None) -> None:
        state = self.conn.state
        if not self.request_done or state.draining:
            self.keep_alive = False
        self.status = status
        head_only = self.head.method == b"HEAD"
        if headers is None and content_type is errors.JSON:
            data = errors.cached(status, body, not self.keep_alive, state.date, head_only)
        else:
            data = errors.render(status, body, close=not self.keep_alive, content_type=content_type,
                                 headers=headers, date=state.date, head_only=head_only)
        self.bytes_out += len(data)
        if not self.conn.closed:
            self.conn.transport.write(data)
        self.finish()

    # ---- the end -----------------------------------------------------------------------------------
    def abandon(self, status: int) -> None:
        """End without a proper response (the client left, or the connection had to be cut)."""
        if self.finished:
            return
        self._drop_upstream()
        if self.body_waiter is not None and not self.body_waiter.done():
            self.body_waiter.cancel()
        if self.plugins is not None:
            self.plugins.cancel()
        self.status = status
        self.keep_alive = False
        self.finish()

    def finish(self) -> None:
        """The response was written (or given up): count and log it, run the log phase, let the
        connection go on."""
        if self.finished:
            return
        self.finished = True
        plugins = self.plugins
        if plugins is not None:
            ctx = plugins.ctx
            self.consumer = ctx.consumer
            if self.route.logged:  # (for log plugins)
                self.credential, self.log_fields = ctx.credential, ctx.log_fields_if_used()
            self.plugins = None  # (the context refers back to this exchange: no cycle outlives it)
            plugins.finish(self.status)
            if self.runtime is not None:
                self.runtime.release()
        peer = self.peer
        if peer is not None and peer.counting:  # (least-connections: its try has ended)
            peer.active -= 1
        end = _perf()
        observe = self.route.observe
        if observe is not None:  # log and trace plugins queue it now, as Kong's log phase would
            observe(self, end)
        records = self.conn.state.records
        finished = records.finished
        finished.append((self, end))
        if len(finished) >= BATCH:
            records.settle()
        self.conn.exchange_done(self)

    # ---- what observer plugins read (proxy.observers) ------------------------------------------------
    def head_size(self) -> int:
        """The request head's size in bytes as forwarded: request line, Host and the other header fields
        (those the proxy writes itself, framing and X-Forwarded-*, are not counted)."""
        head = self.head
        return (len(self.method) + len(head.raw_path) + len(self.query) + 14 + self.fields.size()
                + (len(head.host) + 8 if head.host else 0))

    def log_entry(self, end: float) -> Finished:
        """This exchange as log and trace plugins see it: what it already holds, nothing decoded."""
        t0, t_sent, t_head = self.t0, self.t_sent, self.t_head
        total = (end - t0) * 1000.0
        conn, head, route, peer = self.conn, self.head, self.route, self.peer
        service = route.service
        tries: tuple[tuple[str, int, str | None], ...] = tuple(
            (p.address[0], p.address[1], kind) for p, kind in self.failed)
        if t_head and peer is not None:
            tries += ((peer.address[0], peer.address[1], None),)
        trace, path = self.trace, self.upstream_path
        return Finished(
            t0 + conn.state.access_log.epoch_offset, total, (t_head - t_sent) * 1000.0 if t_head else -1.0,
            (t_sent - t0) * 1000.0 if t_head else total, conn.ip_text, head.method, head.raw_path, head.query,
            head.host_name, conn.port_number, "1.1" if head.http11 else "1.0", self.fields,
            self.head_size() + self.bytes_in, self.status, self.response_fields if t_head else None, self.bytes_out,
            route.entity if route is not self.conn.state.unmatched else None,
            service.entity if service is not None else None, self.consumer, self.credential,
            path + self.query if path is not None else None, tries, self.log_fields,
            trace.trace_id if trace is not None else None, trace)
