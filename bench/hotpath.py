"""The data plane's per-request Python cost, in process: microseconds per request for each route of
`bench.oidc` and `bench.access_control`, and a route with `bench.observability`'s prometheus plugin,
with no sockets, no wrk and no other process competing for the CPU.

A real `ClientConnection` parses real request bytes and a real `UpstreamConnection` parses real
response bytes; only the transports are stand-ins that keep what is written. So this measures
exactly the work the worker does per request (parsing, routing, plugins, head building, metrics,
access log), which wrk's requests/s measures too, mixed with the kernel, wrk and the upstream.
The openid-connect routes talk to a real `oidcgate idp` once, to fill their caches; the Redis rows
(sessions, rate-limiting) wait on the machine's Redis, through the event loop, as a worker does.

A request is two stages, each one call from the event loop in a real worker:
- `request`: the client's bytes in, until the upstream request is written (parse, route, plugins,
  upstream head; while a plugin waits on the network, the event loop's work counts too);
- `response`: the upstream's bytes in, until the client's response is written (response head,
  metrics, access log).
`bench.instructions` counts the CPU instructions of each stage under callgrind.

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
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.redis import removing_keys_with

from bench import access_control, observability, oidc
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
RESPONSE = (b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Sat, 28 Nov 2026 06:34:00 GMT\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\nConnection: keep-alive\r\n\r\n%s"
            % (len(_BODY), _BODY))  # what the bench's nginx upstream answers
WAIT_TIMEOUT = 30.0
ROUNDS = 25
SESSION_FRESH = 20.0  # seconds; the idle clock is renewed after a tenth of session_idling_timeout (900 s)


class Transport:
    """A transport that counts writes (keeps them when `kept` is a list), and wakes whoever waits for one."""

    def __init__(self) -> None:
        self.writes = 0
        self.kept: list[bytes] | None = None
        self.waiter: asyncio.Future[None] | None = None

    def write(self, data: bytes) -> None:
        self.writes += 1
        if self.kept is not None:
            self.kept.append(data)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...

    def is_closing(self) -> bool:
        return False


def _nothing() -> None: ...


class Worker:
    """One worker's state serving `doc`, with one client connection and one pooled upstream connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop, doc: dict[str, Any], log_path: Path) -> None:
        self.loop = loop
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

    async def once(self, request: bytes, stage: str = "", mark: Callable[[], None] = _nothing) -> None:
        """One request; `mark` is called as `stage` ("request" or "response") begins and ends."""
        sent, answered = self.upstream_transport.writes, self.client.writes
        if stage == "request":
            mark()
        self.conn.data_received(request)
        if self.upstream_transport.writes == sent and self.client.writes == answered:
            await self._written(sent, answered)  # a plugin waits on the network (Redis, the provider)
        if stage == "request":
            mark()
        if self.upstream_transport.writes != sent:
            if stage == "response":
                mark()
            self.upstream.data_received(RESPONSE)
            if stage == "response":
                mark()

    async def many(self, request: bytes, count: int, stage: str = "", mark: Callable[[], None] = _nothing) -> None:
        for _ in range(count):
            await self.once(request, stage, mark)

    async def _written(self, sent: int, answered: int) -> None:
        async with asyncio.timeout(WAIT_TIMEOUT):
            while self.upstream_transport.writes == sent and self.client.writes == answered:
                waiter = self.client.waiter = self.upstream_transport.waiter = self.loop.create_future()
                await waiter
        self.client.waiter = self.upstream_transport.waiter = None


def request_bytes(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET /{path} HTTP/1.1", "Host: 127.0.0.1:8000", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def gateway_doc(issuer: str, client_id: str, redis_route: str) -> dict[str, Any]:
    """The routes of bench.oidc and bench.access_control on one data plane (their consumers too), and
    `/prometheus`: the plain route with bench.observability's prometheus plugin (status codes,
    latencies, bandwidth)."""
    sessions = oidc.gateway_doc(UPSTREAM, issuer)
    access = access_control.gateway_doc(UPSTREAM, issuer, client_id, redis_route)
    routes = sessions["services"][0]["routes"] + [r for r in access["services"][0]["routes"] if r["name"] != "plain"]
    routes.append({"name": "prometheus", "paths": ["/prometheus"], "plugins": [observability.PROMETHEUS]})
    return {**access, "services": [{"name": "bench", "url": UPSTREAM, "routes": routes}]}


def requests_by_route(token: str, client_id: str, secret: str) -> dict[str, bytes]:
    bearer = {"Authorization": f"Bearer {token}"}
    basic = {"Authorization": basic_authorization(client_id, secret)}
    return {"plain": request_bytes("plain", {}), "plain+token": request_bytes("plain", bearer),
            "plain+basic": request_bytes("plain", basic), "noop": request_bytes("noop", bearer),
            "bearer": request_bytes("bearer", bearer), "cc": request_bytes("cc", basic),
            "session-cookie": b"", "session-redis": b"",  # (see Bench.request)
            "oidc": request_bytes("oidc", bearer), "acl": request_bytes("acl", bearer),
            "rl-local": request_bytes("rl-local", {}), "rl-redis": request_bytes("rl-redis", {}),
            "prometheus": request_bytes("prometheus", {})}


@dataclass
class Bench:
    """The worker, its loop and the request of each route."""

    subject: Worker
    loop: asyncio.AbstractEventLoop
    requests: dict[str, bytes]
    issuer: str
    token: str
    sessions_made: float = -SESSION_FRESH

    def request(self, route: str) -> bytes:
        """The route's request; a session cookie is made anew when it is older than SESSION_FRESH seconds,
        as a browser gets a new one from Set-Cookie when the gateway renews the session's idle clock."""
        if route.startswith("session") and time.monotonic() - self.sessions_made >= SESSION_FRESH:
            cookies = self.loop.run_until_complete(oidc.stored_sessions(self.issuer, self.token))
            for name, headers in cookies.items():
                self.requests[name] = request_bytes(name, headers)
            self.sessions_made = time.monotonic()
        return self.requests[route]


@contextmanager
def worker() -> Iterator[Bench]:
    import uvloop

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    with ExitStack() as stack:
        issuer, client_id, secret = stack.enter_context(oidc.identity_provider())
        redis_route = stack.enter_context(removing_keys_with(str(uuid.uuid4())))
        stack.enter_context(removing_keys_with(oidc.REDIS_PREFIX))  # (the sessions it stores)
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        token = oidc.client_credentials_token(issuer, client_id, secret)
        requests = requests_by_route(token, client_id, secret)
        subject = Worker(loop, gateway_doc(issuer, client_id, redis_route), Path(tmp) / "access.log")
        bench = Bench(subject, loop, requests, issuer, token)
        for name in requests:
            answer = subject.client.kept = []
            loop.run_until_complete(subject.once(bench.request(name)))
            subject.client.kept = None
            if not b"".join(answer).startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"{name}: the warm-up request got {b''.join(answer)[:300]!r}")
        settle_heap()  # as a worker does after loading a configuration
        try:
            yield bench
        finally:
            loop.run_until_complete(subject.state.env.close())
            loop.close()


def per_request_us(subject: Worker, request: bytes, count: int) -> float:
    client = subject.client
    written = client.writes
    gc.collect()
    start = time.perf_counter()
    subject.loop.run_until_complete(subject.many(request, count))
    elapsed = time.perf_counter() - start
    if client.writes - written < count:
        raise RuntimeError(f"{client.writes - written} writes for {count} requests")
    return elapsed / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", metavar="ROUTE", help="cProfile one route instead of timing all")
    args = parser.parse_args()
    count = int(os.environ.get("HOTPATH_REQUESTS", "2000"))
    with worker() as bench:
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(per_request_us, bench.subject, bench.request(args.profile), count)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            return
        best: dict[str, float] = {}
        for _ in range(ROUNDS):  # interleaved, each row keeps its best: other work only ever adds time
            for name in bench.requests:
                us = per_request_us(bench.subject, bench.request(name), count)
                best[name] = min(best.get(name, float("inf")), us)
    reference = best["plain+token"]
    for name, us in best.items():
        print(f"{name:14s} {us:6.2f} us/request  (+{us - reference:5.2f} over plain+token)")


if __name__ == "__main__":
    main()
