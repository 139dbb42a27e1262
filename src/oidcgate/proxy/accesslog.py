"""The access log: one JSON object per line, to stdout (default), a file, or nowhere (`off`).

What is logged (Kong file-log's names where they exist): started_at (ms since the epoch), client_ip,
method, path (normalized, *without* the query string: query values often carry secrets such as
`access_token` or `code`), status, latencies {request, proxy (upstream), kong (gateway)} in ms, route,
service, consumer (username or id), upstream (host:port), bytes_in (request body) and bytes_out
(response bytes written). No header is ever logged, so Authorization and cookies cannot leak.

Lines are built after the response is written, with one bytes-format (names of routes and services
are JSON-encoded once per snapshot), and buffered; `flush()` runs on the worker tick and
when the buffer passes 64 KiB. Each write() holds whole lines of at most PIPE_BUF bytes, so workers
sharing a pipe never interleave within a line.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from oidcgate.proxy.exchange import Exchange

PIPE_BUF = 4096
FLUSH_AT = 64 * 1024


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
        self.lines: list[bytes] = []
        self.size = 0

    def add(self, line: bytes) -> None:
        self.lines.append(line)
        self.size += len(line)
        if self.size >= FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        if not self.lines:
            return
        lines, self.lines, self.size = self.lines, [], 0
        block: list[bytes] = []
        block_size = 0
        for line in lines:
            if block and block_size + len(line) > PIPE_BUF:
                self._write(b"".join(block))
                block, block_size = [], 0
            block.append(line)
            block_size += len(line)
        if block:
            self._write(b"".join(block))

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


_LINE = (b'{"started_at":%d,"client_ip":"%s","method":"%s","path":%s,"status":%d,'
         b'"latencies":{"request":%.3f,"proxy":%s,"kong":%.3f},%s,"consumer":%s,"upstream":%s,'
         b'"bytes_in":%d,"bytes_out":%d}\n')
_UNMATCHED = b'"route":null,"service":null'


def entry(exchange: Exchange, total_ms: float, upstream_ms: float) -> bytes:
    """The access log line for a finished exchange (latencies in milliseconds, -1: no upstream)."""
    route = exchange.route
    consumer = exchange.ctx.consumer if exchange.ctx is not None else None
    peer = exchange.peer
    proxied = upstream_ms >= 0
    return _LINE % (
        int(time.time() * 1000 - total_ms), exchange.conn.ip, exchange.method, orjson.dumps(exchange.path.decode("latin-1")),
        exchange.status, total_ms, b"%.3f" % upstream_ms if proxied else b"null",
        total_ms - upstream_ms if proxied else total_ms, route.log_names if route is not None else _UNMATCHED,
        orjson.dumps(consumer.username or consumer.id) if consumer is not None else b"null",
        b'"%s:%d"' % (peer.address[0].encode(), peer.address[1]) if peer is not None else b"null",
        exchange.bytes_in, exchange.bytes_out)
