"""The access log: one JSON object per line, to stdout (default), a file, or nowhere (`off`).

What is logged (Kong file-log's names where they exist): started_at (ms since the epoch), client_ip,
method, path (normalized, *without* the query string: query values often carry secrets such as
`access_token` or `code`), status, latencies {request (all of it), proxy (request sent upstream to
response head), kong (until the request went upstream, or until the gateway's own answer)} in ms, route,
service, consumer (username or id), upstream (host:port), bytes_in (request body), bytes_out
(response bytes written) and, for a request the opentelemetry plugin traced, trace_id (32 hex digits,
the id its spans carry). No header is ever logged, so Authorization and cookies cannot leak.

A finished request only appends (exchange, end time) to a list; every FLUSH_AT requests and on the
worker tick, `flush()` builds the lines, one bytes-format each (names of routes and services are
JSON-encoded once per snapshot, and no clock is read), and writes them at once. Formatting in a
batch keeps that code hot in the CPU's caches, which costs less than a line per request. To a pipe, each write() holds whole lines of at most PIPE_BUF bytes, so
workers sharing it never interleave within a line; to a file, one O_APPEND write per flush.
"""

from __future__ import annotations

import os
import stat
import time
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from oidcgate.proxy.exchange import Exchange

PIPE_BUF = 4096
FLUSH_AT = 256  # requests: a flush (format + one write) takes a fraction of a millisecond


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
        self.pending: list[tuple[Exchange, float]] = []  # finished requests and their end times
        self.epoch_offset = 0.0
        self.sync_clock()

    def sync_clock(self) -> None:
        """perf_counter -> epoch seconds (the worker tick calls this, so lines need no clock call)."""
        self.epoch_offset = time.time() - time.perf_counter()

    def flush(self) -> None:
        """Format the lines of the requests that finished since the last flush, and write them."""
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        offset = self.epoch_offset
        data = b"".join([entry(exchange, end, offset) for exchange, end in pending])
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
        self.flush()
        if self.owned:
            os.close(self.fd)
            self.owned = False


_HEAD = b'{"started_at":%.0f,"client_ip":"%s","method":"%s","path":"%s","status":%d,'
_LINE = _HEAD + (b'"latencies":{"request":%.3f,"proxy":%.3f,"kong":%.3f},%s,"consumer":%s,"upstream":%s,'
                 b'"bytes_in":%d,"bytes_out":%d%s}\n')
_LINE_LOCAL = _HEAD + (b'"latencies":{"request":%.3f,"proxy":null,"kong":%.3f},%s,"consumer":%s,"upstream":%s,'
                       b'"bytes_in":%d,"bytes_out":%d%s}\n')  # answered without the upstream
_UNMATCHED = b'"route":null,"service":null'


def entry(exchange: Exchange, end: float, epoch_offset: float) -> bytes:
    """The access log line of a finished exchange; `epoch_offset` turns perf_counter times into epoch
    seconds (refreshed by the tick, so a line needs no clock call)."""
    path = exchange.path
    # (bytes.find, not `in`: `in` on bytes first tries the needle as an int and builds a TypeError)
    if path.find(b'"') >= 0 or path.find(b"\\") >= 0 or not path.isascii():  # llhttp refused control bytes
        path = orjson.dumps(path.decode("latin-1"))[1:-1]
    route = exchange.route
    peer = exchange.peer
    known = exchange.consumer
    consumer = b"null" if known is None else orjson.dumps(known.username or known.id)
    t0 = exchange.t0
    total = (end - t0) * 1000.0
    t_head = exchange.t_head
    trace = exchange.trace
    traced = b'' if trace is None else b',"trace_id":"%s"' % trace.trace_id.hex().encode()
    if t_head:
        t_sent = exchange.t_sent
        return _LINE % ((t0 + epoch_offset) * 1000.0, exchange.conn.ip, exchange.method, path, exchange.status,
                        total, (t_head - t_sent) * 1000.0, (t_sent - t0) * 1000.0,  # (Kong's: until sent upstream)
                        route.log_names, consumer,  # type: ignore[union-attr]
                        peer.log_address, exchange.bytes_in, exchange.bytes_out, traced)  # type: ignore[union-attr]
    return _LINE_LOCAL % ((t0 + epoch_offset) * 1000.0, exchange.conn.ip, exchange.method, path, exchange.status,
                          total, total, route.log_names if route is not None else _UNMATCHED, consumer,
                          peer.log_address if peer is not None else b"null", exchange.bytes_in, exchange.bytes_out,
                          traced)
