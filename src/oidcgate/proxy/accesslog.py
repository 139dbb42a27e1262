"""The access log: one JSON object per line, to stdout (default), a file, or nowhere (`off`).

What is logged (Kong file-log's names where they exist): started_at (ms since the epoch), client_ip,
method, path (normalized, *without* the query string: query values often carry secrets such as
`access_token` or `code`), status, latencies {request (all of it), proxy (request sent upstream to
response head), kong (until the request went upstream, or until the gateway's own answer)} in ms, route,
service, consumer (username or id), upstream (host:port), bytes_in (request body), bytes_out
(response bytes written) and, for a request the opentelemetry plugin traced, trace_id (32 hex digits,
the id its spans carry). No header is ever logged, so Authorization and cookies cannot leak.

Finished requests come in batches (see record.Records): `write()` builds their lines, one
bytes-format each (names of routes and services are JSON-encoded once per snapshot, and no clock is
read), and writes them at once. To a pipe, each write() holds whole lines of at most PIPE_BUF bytes,
so workers sharing it never interleave within a line; to a file, one O_APPEND write per batch.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Sequence
from typing import Any, Protocol

import orjson

from oidcgate.config.entities import Consumer
from oidcgate.proxy.balancer import Peer
from oidcgate.proxy.head import RequestHead


class Named(Protocol):
    log_names: bytes  # '"route":...,"service":...', JSON-encoded once per route


class Addressed(Protocol):
    ip: bytes  # the client's


class Finished(Protocol):
    """A finished exchange, as its log line reads it."""

    trace: Any  # the opentelemetry plugin's trace (sampled requests only), else None

    head: RequestHead
    status: int
    peer: Peer | None
    consumer: Consumer | None
    t0: float
    t_sent: float
    t_head: float  # 0.0 when the upstream never answered
    bytes_in: int
    bytes_out: int

    @property
    def route(self) -> Named: ...

    @property
    def conn(self) -> Addressed: ...


PIPE_BUF = 4096


class AccessLog:
    def __init__(self, target: str) -> None:
        self.enabled = target != "off"
        self.fd = -1
        self.owned = False
        if target == "-":
            self.fd = 1
        elif self.enabled:
            self.fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            self.owned = True
        self.pipe = self.enabled and stat.S_ISFIFO(os.fstat(self.fd).st_mode)
        self.epoch_offset = 0.0
        self.sync_clock()

    def sync_clock(self) -> None:
        """perf_counter -> epoch seconds (the worker tick calls this, so lines need no clock call)."""
        self.epoch_offset = time.time() - time.perf_counter()

    def write(self, finished: Sequence[tuple[Finished, float]]) -> None:
        """Format the lines of these finished requests (with their end times), and write them."""
        offset = self.epoch_offset
        data = b"".join([entry(done, end, offset) for done, end in finished])
        if not self.pipe:
            self._write(data)  # O_APPEND on a file: one write is one atomic append
            return
        start = 0
        while start < len(data):  # a pipe shared by workers: whole lines, at most PIPE_BUF per write
            end = len(data) if len(data) - start <= PIPE_BUF else data.rfind(b"\n", start, start + PIPE_BUF) + 1
            if end <= start:  # one line longer than PIPE_BUF
                end = data.find(b"\n", start) + 1 or len(data)
            self._write(data[start:end])
            start = end

    def _write(self, data: bytes) -> None:
        try:
            while data:
                written = os.write(self.fd, data)
                data = data[written:]
        except OSError:  # a closed stdout must not take the proxy down
            self.enabled = False

    def close(self) -> None:
        if self.owned:
            os.close(self.fd)
            self.owned = False


_HEAD = b'{"started_at":%.0f,"client_ip":"%s","method":"%s","path":"%s","status":%d,'
_LINE = _HEAD + (b'"latencies":{"request":%.3f,"proxy":%.3f,"kong":%.3f},%s,"consumer":%s,"upstream":%s,'
                 b'"bytes_in":%d,"bytes_out":%d%s}\n')
_LINE_LOCAL = _HEAD + (b'"latencies":{"request":%.3f,"proxy":null,"kong":%.3f},%s,"consumer":%s,"upstream":%s,'
                       b'"bytes_in":%d,"bytes_out":%d%s}\n')  # answered without the upstream


def entry(done: Finished, end: float, epoch_offset: float) -> bytes:
    """The access log line of a finished exchange; `epoch_offset` turns perf_counter times into epoch
    seconds (refreshed by the tick, so a line needs no clock call)."""
    head = done.head
    path = head.path
    if 34 in path or 92 in path or not path.isascii():  # '"' or '\\' (llhttp refused control bytes)
        path = orjson.dumps(path.decode("latin-1"))[1:-1]
    peer = done.peer
    known = done.consumer
    consumer = b"null" if known is None else orjson.dumps(known.username or known.id)
    t0 = done.t0
    total = (end - t0) * 1000.0
    t_head = done.t_head
    trace = done.trace
    traced = b"" if trace is None else b',"trace_id":"%s"' % trace.trace_id.hex().encode()
    if t_head:
        t_sent = done.t_sent
        return _LINE % ((t0 + epoch_offset) * 1000.0, done.conn.ip, head.method, path, done.status,
                        total, (t_head - t_sent) * 1000.0, (t_sent - t0) * 1000.0,  # (Kong's: until sent upstream)
                        done.route.log_names, consumer, peer.log_address if peer is not None else b"null",
                        done.bytes_in, done.bytes_out, traced)
    return _LINE_LOCAL % ((t0 + epoch_offset) * 1000.0, done.conn.ip, head.method, path, done.status,
                          total, total, done.route.log_names, consumer,
                          peer.log_address if peer is not None else b"null", done.bytes_in, done.bytes_out, traced)
