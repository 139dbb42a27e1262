"""The floor of a Python reverse proxy on this machine: the smallest relay on uvloop + httptools.

Issue 13 measured "a 70-line relay" as the reference of what Python itself can reach next to nginx.
This is that relay, so every `make bench` run shows it in the same rounds as nginx and oidcgate: it
parses each request with httptools, writes its head upstream over one keep-alive connection per
client connection, and relays the response's bytes, parsing them only to know where each ends. No
routing, no plugins, no header rewriting, no access log, no metrics, no timeouts and no limits: it
is not a proxy to use, only the cost of the sockets, the event loop and the parser.

    python -m bench.relay UPSTREAM_PORT LISTEN_PORT
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterator
from typing import cast

import httptools
import uvloop
from tests.support.processes import free_port

from bench.harness import child, work_dir


class Upstream(asyncio.Protocol):
    """The upstream side: relays every byte back to the client (responses come in the requests' order)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.client.transport.write(data)
        self.parser.feed_data(data)  # (as a proxy must, to find where each response ends)


class Client(asyncio.Protocol):
    """The client side: one request at a time, its head rebuilt and written upstream."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.fields: list[bytes] = []
        self.upstream: Upstream | None = None
        self.pending: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        asyncio.get_running_loop().create_task(self.connect())

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        _, self.upstream = await loop.create_connection(lambda: Upstream(self), "127.0.0.1", self.upstream_port)
        for head in self.pending:
            self.send(head)

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.fields += (name, b": ", value, b"\r\n")

    def on_headers_complete(self) -> None:
        method = self.parser.get_method()
        head = b"".join([method, b" ", self.url, b" HTTP/1.1\r\n", *self.fields, b"\r\n"])
        self.url, self.fields = b"", []
        if self.upstream is None:
            self.pending.append(head)
        else:
            self.send(head)

    def send(self, head: bytes) -> None:
        assert self.upstream is not None and self.upstream.transport is not None
        self.upstream.transport.write(head)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.close()


async def serve(upstream_port: int, port: int) -> None:
    server = await asyncio.get_running_loop().create_server(lambda: Client(upstream_port), "127.0.0.1", port,
                                                             backlog=4096)
    async with server:
        await server.serve_forever()


@contextlib.contextmanager
def relay(upstream: str, _workers: int = 1) -> Iterator[str]:
    """This relay in front of `upstream` (its base URL), as a child process. Yields its base URL."""
    port = free_port()
    upstream_port = upstream.rsplit(":", 1)[1]
    command = [sys.executable, "-m", "bench.relay", upstream_port, str(port)]
    with work_dir("relay") as work, child("relay", command, work / "relay.log", port):
        yield f"http://127.0.0.1:{port}"


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1]), int(sys.argv[2])))
