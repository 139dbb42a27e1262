"""The data plane's per-request Python cost, in process: microseconds per request for each route of
`bench.oidc` and a route with the prometheus plugin, with no sockets, no wrk and no other process
competing for the CPU.

A real `ClientConnection` parses real request bytes and a real `UpstreamConnection` parses real
response bytes; only the transports are stand-ins that keep what is written. So this measures
exactly the work the worker does per request (parsing, routing, plugins, head building, metrics on
the prometheus route, access log), which wrk's requests/s measures too, mixed with the kernel, wrk and the upstream.
The openid-connect routes talk to a real `oidcgate idp` once, to fill their caches.

    python -m bench.hotpath            # every route; HOTPATH_REQUESTS per run (default 2000)
    python -m bench.hotpath --profile bearer   # cProfile of one route, sorted by own time
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import observability, oidc
from oidcgate.config import load
from oidcgate.plugins.openid_connect.client_auth import basic_authorization
from oidcgate.plugins.registry import config_schema
from oidcgate.proxy.accesslog import AccessLog
from oidcgate.proxy.runtime import compile_snapshot
from oidcgate.proxy.server import ClientConnection, Listener
from oidcgate.proxy.settings import Settings
from oidcgate.proxy.state import WorkerState
from oidcgate.proxy.upstream import UpstreamConnection
from oidcgate.proxy.worker import settle_heap
from oidcgate.tls.upstream import PLAIN

UPSTREAM = "http://127.0.0.1:9"  # never connected: the pool is given a stand-in connection
_BODY = b'{"message":"hello from the bench upstream"}'
RESPONSE = (b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: keep-alive\r\n\r\n%s" % (len(_BODY), _BODY))
WARMUP_TIMEOUT = 30.0
ROUNDS = 25


class Transport:
    """A transport that keeps the last write (all the harness needs to see a response went out)."""

    def __init__(self) -> None:
        self.last = b""
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.last = data
        self.writes += 1

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...

    def is_closing(self) -> bool:
        return False


class Worker:
    """One worker's state serving `doc`, with one client connection and one pooled upstream connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop, doc: dict[str, Any], log_path: Path) -> None:
        self.state = WorkerState(loop, Settings(), access_log=AccessLog(str(log_path)))
        self.state.swap(compile_snapshot(load(doc, config_schema), self.state.env, self.state.stats))
        self.client = Transport()
        self.conn = ClientConnection(self.state, Listener(8000, 65536, 100))
        self.conn.connection_made(self.client)  # type: ignore[arg-type]
        address = ("127.0.0.1", 9, PLAIN)
        self.upstream = UpstreamConnection(self.state.pool, address)
        self.upstream_transport = Transport()
        self.upstream.transport = self.upstream_transport  # type: ignore[assignment]
        self.state.pool.idle[address] = [self.upstream]
        self.state.pool.max_requests = 1 << 62  # one connection serves every request of the run

    def once(self, request: bytes) -> None:
        """One request through the proxy, answered at once by the upstream (plugins that never wait)."""
        sent = self.upstream_transport.writes
        self.conn.data_received(request)
        if self.upstream_transport.writes != sent:
            self.upstream.data_received(RESPONSE)

    async def warm(self, request: bytes) -> bytes:
        """The first request: plugins may wait on the network (discovery, JWKS, a token)."""
        written = self.client.writes
        sent = self.upstream_transport.writes
        self.conn.data_received(request)
        deadline = time.monotonic() + WARMUP_TIMEOUT
        while self.client.writes == written and self.upstream_transport.writes == sent:
            if time.monotonic() > deadline:
                raise TimeoutError("no response to the warm-up request")
            await asyncio.sleep(0.01)
        if self.upstream_transport.writes != sent:
            self.upstream.data_received(RESPONSE)
        return self.client.last


def request_bytes(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET /{path} HTTP/1.1", "Host: 127.0.0.1:8000", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def requests_by_route(issuer: str, client_id: str, secret: str) -> dict[str, bytes]:
    bearer = {"Authorization": f"Bearer {oidc._token(issuer, client_id, secret)}"}
    basic = {"Authorization": basic_authorization(client_id, secret)}
    return {"plain": request_bytes("plain", {}), "plain+token": request_bytes("plain", bearer),
            "plain+basic": request_bytes("plain", basic), "noop": request_bytes("noop", bearer),
            "bearer": request_bytes("bearer", bearer), "cc": request_bytes("cc", basic),
            "prometheus": request_bytes("prometheus", {})}


def gateway_doc(issuer: str) -> dict[str, Any]:
    """bench.oidc's routes, and `/prometheus`: the plain route with bench.observability's prometheus plugin
    (status codes, latencies, bandwidth)."""
    doc = oidc.gateway_doc(UPSTREAM, issuer)
    doc["services"][0]["routes"].append({"name": "prometheus", "paths": ["/prometheus"],
                                         "plugins": [observability.PROMETHEUS]})
    return doc


@contextmanager
def worker() -> Iterator[tuple[Worker, dict[str, bytes], asyncio.AbstractEventLoop]]:
    import uvloop

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    with oidc.identity_provider() as (issuer, client_id, secret), tempfile.TemporaryDirectory() as tmp:
        requests = requests_by_route(issuer, client_id, secret)
        subject = Worker(loop, gateway_doc(issuer), Path(tmp) / "access.log")
        for name, request in requests.items():
            answer = loop.run_until_complete(subject.warm(request))
            if not answer.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"{name}: the warm-up request got {answer[:200]!r}")
        settle_heap()  # as a worker does after loading a configuration
        try:
            yield subject, requests, loop
        finally:
            loop.run_until_complete(subject.state.env.close())
            loop.close()


def per_request_us(subject: Worker, request: bytes, count: int) -> float:
    once, client = subject.once, subject.client
    written = client.writes
    gc.collect()
    start = time.perf_counter()
    for _ in range(count):
        once(request)
    elapsed = time.perf_counter() - start
    if client.writes - written != count or not client.last.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"{client.writes - written} responses to {count} requests, the last {client.last[:100]!r}")
    return elapsed / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", metavar="ROUTE", help="cProfile one route instead of timing all")
    args = parser.parse_args()
    count = int(os.environ.get("HOTPATH_REQUESTS", "2000"))
    with worker() as (subject, requests, _loop):
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(per_request_us, subject, requests[args.profile], count)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            return
        best: dict[str, float] = {}
        for _ in range(ROUNDS):  # interleaved, each row keeps its best: other work only ever adds time
            for name, request in requests.items():
                best[name] = min(best.get(name, float("inf")), per_request_us(subject, request, count))
    reference = best["plain+token"]
    for name, us in best.items():
        print(f"{name:12s} {us:6.2f} us/request  (+{us - reference:5.2f} over plain+token)")


if __name__ == "__main__":
    main()
