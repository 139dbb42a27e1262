"""HTTP/1.1 server side of the echo: an asyncio.Protocol driving httptools (llhttp).

One protocol instance per connection. Requests are parsed as bytes arrive (bodies straight into a
BodySink, never buffered whole), answered strictly in order (pipelining works), and responses
that take time (a delay, a streamed body) hold the queue until done. Streamed bodies obey the
transport's flow control (pause_writing/resume_writing), so a slow reader costs bounded memory.
Malformed requests get a 400 (oversized heads a 431) and the connection is closed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterator
from email.utils import formatdate
from http import HTTPStatus
from typing import cast
from urllib.parse import urlsplit

import httptools

from oidcgate.echo.body import BodySink
from oidcgate.echo.endpoints import EchoRequest, Reply, dispatch, error_reply

log = logging.getLogger("oidcgate.echo")

MAX_HEAD_BYTES = 64 << 10  # request line + headers
MAX_HEADERS = 100
MAX_QUEUED = 16  # pipelined requests waiting for an answer before we stop reading
WRITE_BUFFER_HIGH = 256 << 10
NO_BODY_STATUSES = frozenset({204, 304})
REASONS = {status.value: status.phrase for status in HTTPStatus}


class HeadTooLarge(Exception):
    """Raised from a parser callback to abort a request whose head exceeds the limits."""


class _DateCache:
    """The Date header value, formatted once per second rather than once per response."""

    second = 0
    value = ""

    @classmethod
    def now(cls) -> str:
        second = int(time.time())
        if second != cls.second:
            cls.second, cls.value = second, formatdate(second, usegmt=True)
        return cls.value


def response_head(status: int, headers: list[tuple[str, str]], length: int | None, *,
                  keep_alive: bool, http10: bool) -> bytes:
    """Status line and header block. `length` None means chunked (close-delimited for HTTP/1.0)."""
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}\r\nServer: oidcgate-echo\r\n"
             f"Date: {_DateCache.now()}\r\n"]
    lines.extend(f"{name}: {value}\r\n" for name, value in headers)
    if status not in NO_BODY_STATUSES and status >= 200:
        if length is not None:
            lines.append(f"Content-Length: {length}\r\n")
        elif not http10:
            lines.append("Transfer-Encoding: chunked\r\n")
    if not keep_alive:
        lines.append("Connection: close\r\n")
    elif http10:
        lines.append("Connection: keep-alive\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")


class EchoProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, server_name: str, connections: set[EchoProtocol]) -> None:
        self.server_name = server_name
        self.connections = connections
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.peer = ""
        self.last_active = self.loop.time()
        # the request being parsed
        self.url = b""
        self.headers: list[tuple[str, str]] = []
        self.body = BodySink()
        self.in_head = False
        self.head_bytes = 0  # request line and header fields, as parsed
        self.head_raw_bytes = 0  # bytes received while the head is incomplete
        # answering: (reply, keep_alive, head_only, http10) in request order
        self.queue: deque[tuple[Reply, bool, bool, bool]] = deque()
        self.busy = False  # a delayed or streamed reply holds the queue
        self.failed = False  # a 400/431 is queued: ignore any further bytes
        self.reading_paused = False
        self.write_paused = False
        self.timer: asyncio.TimerHandle | None = None
        self.streaming: tuple[Iterator[bytes], bool, bool] | None = None  # (iterator, chunked, keep_alive)

    # -- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH)
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if peer else ""
        self.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        if self.timer is not None:
            self.timer.cancel()
        self.queue.clear()
        self.streaming = None
        self.transport = None

    def data_received(self, data: bytes) -> None:
        if self.failed:
            return
        self.last_active = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # We speak no other protocol: the request was answered as plain HTTP; end there.
            if self.queue:
                self.failed = True
                reply, _, head_only, http10 = self.queue.pop()
                self.queue.append((reply, False, head_only, http10))
                self._pause_reading()
            else:
                self._fail(400, "protocol upgrade not supported")
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, HeadTooLarge):
                self._fail(431, str(exc.__context__))
            else:
                log.exception("echo: request handling failed")
                self._fail(500, "internal error")
        except httptools.HttpParserError as exc:
            self._fail(400, f"malformed request: {exc}")
        else:
            if self.in_head:  # a head still incomplete: httptools buffers it, so bound the raw bytes
                self.head_raw_bytes += len(data)
                if self.head_raw_bytes > MAX_HEAD_BYTES:
                    self._fail(431, f"request head larger than {MAX_HEAD_BYTES} bytes")
        self._answer()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.streaming is not None:
            self._pump()

    # -- httptools callbacks ----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        self.body = BodySink()
        self.in_head = True
        self.head_bytes = 0
        self.head_raw_bytes = 0

    def _count_head(self, size: int) -> None:
        self.head_bytes += size
        if self.head_bytes > MAX_HEAD_BYTES:
            raise HeadTooLarge(f"request head larger than {MAX_HEAD_BYTES} bytes")

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.in_head:
            return  # chunked trailers are accepted and ignored
        self._count_head(len(name) + len(value) + 4)
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))
        if len(self.headers) > MAX_HEADERS:
            raise HeadTooLarge(f"more than {MAX_HEADERS} header fields")

    def on_headers_complete(self) -> None:
        self.in_head = False
        expects = next((v for k, v in self.headers if k.lower() == "expect"), None)
        if expects is not None and expects.lower() == "100-continue" and not self.queue and not self.busy:
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.body.feed(body)

    def on_message_complete(self) -> None:
        target = self.url.decode("latin-1")
        if target.startswith("/"):
            path, _, query = target.partition("?")
        else:  # absolute-form (RFC 9112 §3.2.2) or "*"
            parts = urlsplit(target)
            path, query = parts.path or "/", parts.query
        method = self.parser.get_method().decode("ascii")
        request = EchoRequest(method, target, path, query, self.headers, self.peer, self.server_name, self.body)
        http10 = self.parser.get_http_version() == "1.0"
        self.queue.append((dispatch(request), self.parser.should_keep_alive(), method == "HEAD", http10))
        if len(self.queue) > MAX_QUEUED:
            self._pause_reading()

    # -- answering --------------------------------------------------------------------------------

    def _fail(self, status: int, message: str) -> None:
        self.failed = True
        self._pause_reading()
        self.queue.append((error_reply(status, message), False, False, False))

    def _pause_reading(self) -> None:
        if self.transport is not None and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()

    def _answer(self) -> None:
        """Send queued replies in order until one must wait (delay, stream) or the connection ends."""
        while self.queue and not self.busy and self.transport is not None:
            reply, keep_alive, head_only, http10 = self.queue.popleft()
            if reply.delay > 0:
                self.busy = True
                self.timer = self.loop.call_later(reply.delay, self._send_later, reply, keep_alive,
                                                  head_only, http10)
                return
            self._send(reply, keep_alive, head_only, http10)
        if self.reading_paused and not self.failed and not self.queue and self.transport is not None:
            self.reading_paused = False
            self.transport.resume_reading()

    def _send_later(self, reply: Reply, keep_alive: bool, head_only: bool, http10: bool) -> None:
        self.timer = None
        self.busy = False
        self._send(reply, keep_alive, head_only, http10)
        self._answer()

    def _send(self, reply: Reply, keep_alive: bool, head_only: bool, http10: bool) -> None:
        assert self.transport is not None
        streamed = reply.stream is not None
        length = reply.length if streamed else len(reply.body)
        if streamed and length is None and http10:
            keep_alive = False  # HTTP/1.0 has no chunked framing: the body ends with the connection
        head = response_head(reply.status, reply.headers, length, keep_alive=keep_alive, http10=http10)
        if head_only or reply.status in NO_BODY_STATUSES:
            self.transport.write(head)
        elif streamed:
            self.transport.write(head)
            self.busy = True
            assert reply.stream is not None
            self.streaming = (reply.stream, length is None and not http10, keep_alive)
            self._pump()
            return
        else:
            self.transport.write(head + reply.body)
        if not keep_alive:
            self._close()

    def _pump(self) -> None:
        """Write streamed chunks while the transport accepts them; resume_writing calls again."""
        assert self.streaming is not None
        stream, chunked, keep_alive = self.streaming
        while not self.write_paused and self.transport is not None:
            chunk = next(stream, None)
            if chunk is None:
                if chunked:
                    self.transport.write(b"0\r\n\r\n")
                self.streaming = None
                self.busy = False
                if not keep_alive:
                    self._close()
                self._answer()
                return
            if chunked:
                self.transport.writelines((b"%x\r\n" % len(chunk), chunk, b"\r\n"))
            else:
                self.transport.write(chunk)

    def _close(self) -> None:
        self.queue.clear()
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    def close_if_idle(self, idle_before: float) -> None:
        """Close a keep-alive connection that has had nothing to do since `idle_before`."""
        if not self.busy and not self.queue and self.last_active < idle_before:
            self._close()
