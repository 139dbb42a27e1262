"""Connections to upstream servers: an HTTP/1.1 response parser per connection and a keep-alive pool.

An `UpstreamConnection` serves one exchange at a time, its `ResponseSink`, and forwards the parser's
callbacks to it. Idle connections wait in a LIFO list per (host, port, TLS) so the warmest one is
reused; Kong's defaults apply: at most 512 idle connections per (host, port, TLS), closed after 60 s
idle or 10,000 requests.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from typing import Any, Protocol, cast

from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser

from oidcgate.http.fields import HeaderFields, Received
from oidcgate.proxy.headers import RESPONSE_KINDS, response_kind

_perf = time.perf_counter
Address = tuple[str, int, str]  # host, port, TLS setting (oidcgate.tls.upstream: "" for plain HTTP)
POOL_SIZE = 512
IDLE_TIMEOUT = 60.0
MAX_REQUESTS = 10_000


class ResponseSink(Protocol):
    """The exchange an upstream connection serves: what its parser and transport tell."""

    def on_response_head(self, upstream: UpstreamConnection, status: int, fields: HeaderFields,
                         aside: list[tuple[int, bytes, bytes]] | None) -> None:
        """The head: `fields` end-to-end (ready to send), `aside` framing, Via and hop-by-hop ones."""

    def on_response_body(self, body: bytes) -> None: ...

    def on_response_complete(self, upstream: UpstreamConnection, keep_alive: bool) -> None: ...

    def flush_down(self) -> None:
        """Write what the upstream's last read produced."""

    def upstream_lost(self, upstream: UpstreamConnection) -> None: ...

    def upstream_invalid(self, upstream: UpstreamConnection) -> None:
        """The upstream sent something that is not HTTP/1.1."""

    def upstream_paused(self) -> None: ...

    def upstream_resumed(self) -> None: ...

    def read_deadline(self, last_read: float) -> tuple[float, float]:
        """(the service's read timeout, when silence from the upstream since `last_read` becomes one)."""

    def read_timed_out(self, upstream: UpstreamConnection) -> None: ...


class UpstreamConnection(asyncio.Protocol):
    """One TCP connection to an upstream server (its `transport` is set once connected)."""

    transport: asyncio.Transport

    __slots__ = ("address", "closed", "exchange", "idle_since", "last_read", "on_header", "parser", "pool",
                 "received", "requests", "timeout", "timer", "transport", "upgraded_to")

    def __init__(self, pool: Pool, address: Address) -> None:
        self.pool = pool
        self.address = address
        self.received = Received(RESPONSE_KINDS, response_kind)
        self.on_header = self.received.receive  # (httptools takes its callbacks when the parser is made)
        self.parser = HttpResponseParser(self)
        self.exchange: ResponseSink | None = None
        self.closed = False
        self.requests = 0
        self.last_read = 0.0
        self.idle_since = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.timeout = 0.0
        self.upgraded_to: asyncio.Transport | None = None  # the client, once a 101 made this a tunnel

    # -- asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None:  # bytes on an idle connection: the server broke the protocol
            self.close()
            return
        self.last_read = _perf()
        try:
            self.parser.feed_data(data)
        except HttpParserUpgrade as upgrade:  # after a 101: the rest of `data` is the new protocol's
            rest = data[upgrade.args[0]:]
            if rest and self.upgraded_to is not None:
                self.upgraded_to.write(rest)
        except HttpParserError:
            exchange.upstream_invalid(self)
        if self.exchange is exchange:  # (a complete response was written already)
            exchange.flush_down()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        exchange = self.exchange
        if exchange is not None:
            self.exchange = None
            exchange.upstream_lost(self)

    def pause_writing(self) -> None:
        if self.exchange is not None:
            self.exchange.upstream_paused()

    def resume_writing(self) -> None:
        if self.exchange is not None:
            self.exchange.upstream_resumed()

    # -- httptools callbacks (on_header: self.received) ------------------------------------------
    def on_headers_complete(self) -> None:
        received = self.received
        aside, received.aside = received.aside, None
        fields = received.take()
        exchange = self.exchange
        if exchange is not None:
            exchange.on_response_head(self, self.parser.get_status_code(), fields, aside)

    def on_body(self, body: bytes) -> None:
        exchange = self.exchange
        if exchange is not None:
            exchange.on_response_body(body)

    def on_message_complete(self) -> None:
        exchange = self.exchange
        if exchange is not None:
            exchange.on_response_complete(self, self.parser.should_keep_alive())

    # -- read timeout ----------------------------------------------------------------------------
    def arm(self, timeout: float) -> None:
        """Watch for upstream silence longer than `timeout` while an exchange waits on this connection.

        The timer is re-armed when it fires, not per request: back-to-back requests cost no timer.
        """
        if self.timer is not None:
            self.timer.cancel()
        self.timeout = timeout
        self.timer = self.pool.loop.call_later(timeout, self._check_timeout)

    def _check_timeout(self) -> None:
        self.timer = None
        exchange = self.exchange
        if exchange is None or self.closed:
            return  # idle: arm() starts over with the next exchange
        timeout, due = exchange.read_deadline(self.last_read)
        delay = due - _perf()
        if delay > 0:
            self.timeout = timeout
            self.timer = self.pool.loop.call_later(delay, self._check_timeout)
        else:
            exchange.read_timed_out(self)

    # -- lifecycle -------------------------------------------------------------------------------
    def reset_parser(self) -> None:
        """A fresh parser for the next response (after a HEAD response, whose length llhttp cannot know)."""
        self.parser = HttpResponseParser(self)

    def close(self) -> None:
        self._stop()
        self.transport.close()

    def abort(self) -> None:
        self._stop()
        self.transport.abort()

    def _stop(self) -> None:
        self.closed = True
        self.exchange = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class Pool:
    """Idle keep-alive connections by (host, port, TLS); one pool per worker process."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int = POOL_SIZE,
                 idle_timeout: float = IDLE_TIMEOUT, max_requests: int = MAX_REQUESTS) -> None:
        self.loop = loop
        self.size = size
        self.idle_timeout = idle_timeout
        self.max_requests = max_requests
        self.idle: dict[Address, list[UpstreamConnection]] = {}
        self.now = loop.time()  # coarse clock, advanced by the worker tick
        self.opened = 0

    def take(self, address: Address) -> UpstreamConnection | None:
        """The warmest idle connection to `address`, if any."""
        idle = self.idle.get(address)
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        return None

    def release(self, conn: UpstreamConnection) -> None:
        """Keep `conn` for the next request to its address (unless it is closed, worn or the pool full)."""
        conn.exchange = None
        if conn.closed:
            return
        if conn.requests >= self.max_requests:
            conn.close()
            return
        idle = self.idle.get(conn.address)
        if idle is None:
            idle = self.idle[conn.address] = []
        if len(idle) >= self.size:
            conn.close()
            return
        conn.idle_since = self.now
        idle.append(conn)

    async def connect(self, address: Address, timeout: float, tls: ssl.SSLContext | None) -> UpstreamConnection:
        """Open a new connection; raises OSError or TimeoutError."""
        host, port, _ = address
        async with asyncio.timeout(timeout):
            _, protocol = await self.loop.create_connection(
                lambda: UpstreamConnection(self, address), host, port, ssl=tls,
                server_hostname=host if tls is not None else None)
        self.opened += 1
        return protocol

    def sweep(self) -> None:
        """Close connections idle for longer than `idle_timeout` (called about once a second)."""
        self.now = self.loop.time()
        deadline = self.now - self.idle_timeout
        for address, idle in list(self.idle.items()):
            keep = [c for c in idle if not c.closed and c.idle_since > deadline]
            for conn in idle:
                if conn not in keep:
                    conn.close()
            if keep:
                self.idle[address] = keep
            else:
                del self.idle[address]

    def close(self) -> None:
        for idle in self.idle.values():
            for conn in idle:
                conn.close()
        self.idle.clear()

    def stats(self) -> dict[str, Any]:
        return {"idle": sum(len(v) for v in self.idle.values()), "opened": self.opened}
