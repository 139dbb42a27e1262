"""Per-worker state shared by every connection: the current runtime, the upstream pool, counters, and
which connections wait for their next request.

`tick()` runs about every 250 ms: it refreshes the cached Date header and coarse clock, enforces client
timeouts, closes idle upstream connections and flushes the access log. Client timeouts cost nothing per
request: connections waiting for a request are kept in the order they started waiting (`Waiting`), so
the tick closes those waiting too long without looking at the others, and it checks only the busy
ones (reading a request or writing a response) one by one. Ten thousand idle keep-alive connections
cost a dict entry each, not a check every tick.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from email.utils import formatdate
from typing import TYPE_CHECKING, Any, Protocol

from oidcgate.plugins.pdk import PluginEnv
from oidcgate.proxy.accesslog import AccessLog
from oidcgate.proxy.head import Seen
from oidcgate.proxy.headers import TrustedIPs
from oidcgate.proxy.metrics import WorkerStats
from oidcgate.proxy.record import Records
from oidcgate.proxy.runtime import unmatched_route
from oidcgate.proxy.settings import Settings
from oidcgate.proxy.upstream import Pool
from oidcgate.proxy.usage import ConsumerUsage

if TYPE_CHECKING:
    from oidcgate.proxy.runtime import RouteRuntime, Runtime
    from oidcgate.proxy.tunnel import TunnelEnd

log = logging.getLogger("oidcgate.proxy")
TICK = 0.25


class Connection(Protocol):
    """A client connection, as the worker's tick and drain see it."""

    def check(self, now: float) -> None:
        """Enforce the timeouts of a busy connection."""

    def close(self) -> None: ...

    def close_idle(self) -> None:
        """Draining: close now if no request is in progress."""

    def abort(self) -> None: ...

    def state_name(self) -> str:
        """"reading", "writing" or "waiting" (nginx's stub_status states)."""


class Waiting:
    """Connections waiting for a request, oldest first (a dict keeps insertion order)."""

    __slots__ = ("since", "timeout")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.since: dict[Connection, float] = {}

    def expired(self, now: float) -> list[Connection]:
        """Those that waited `timeout` seconds or more (they stay listed until they close)."""
        expired: list[Connection] = []
        deadline = now - self.timeout
        for conn, since in self.since.items():
            if since > deadline:
                break
            expired.append(conn)
        return expired


class WorkerState:
    def __init__(self, loop: asyncio.AbstractEventLoop, settings: Settings, env: PluginEnv | None = None,
                 access_log: AccessLog | None = None) -> None:
        self.loop = loop
        self.settings = settings
        self.pool = Pool(loop)
        self.stats = WorkerStats()
        self.unmatched: RouteRuntime = unmatched_route(self.stats)
        self.usage = ConsumerUsage()  # requests by consumer, for analytics
        self.env = env or PluginEnv()
        self.access_log = access_log or AccessLog("off")
        self.records = Records(self.access_log, self.usage)
        self.trusted = TrustedIPs(settings.trusted_ips)
        self.runtime: Runtime | None = None
        self.busy: set[Connection] = set()
        self.fresh = Waiting(settings.client_header_timeout)  # connected, no request yet
        self.kept = Waiting(settings.keepalive_timeout)  # kept alive after a response
        self.tunnels: set[TunnelEnd] = set()
        self.seen = Seen()  # Host values and targets admission worked out (see head.Seen)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.accepted = 0
        self.handled = 0
        self.draining = False
        self.started = time.time()
        self.now = loop.time()
        self.date = formatdate(usegmt=True).encode()
        self._ticker: asyncio.TimerHandle | None = None

    def connections(self) -> list[Connection]:
        return [*self.busy, *self.fresh.since, *self.kept.since]

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run background work (plugin phases that wait, log phases) and keep a reference until it ends."""
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def swap(self, runtime: Runtime) -> None:
        previous, self.runtime = self.runtime, runtime
        self.unmatched.observe = runtime.unmatched  # (the global observers of this runtime)
        if previous is not None:
            previous.retire()

    def start_ticking(self) -> None:
        self._ticker = self.loop.call_later(TICK, self._tick)

    def stop_ticking(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    def _tick(self) -> None:
        try:
            self.tick()
        except Exception:
            log.exception("worker tick failed")
        self._ticker = self.loop.call_later(TICK, self._tick)

    def tick(self) -> None:
        self.now = now = self.loop.time()
        self.date = formatdate(usegmt=True).encode()
        for conn in (*self.fresh.expired(now), *self.kept.expired(now)):
            conn.close()
        for conn in list(self.busy):
            conn.check(now)
        self.pool.sweep()
        self.settle()
        self.access_log.sync_clock()

    def settle(self) -> None:
        """Count and log the requests that finished since the last time (see record.Records)."""
        self.records.settle()
        self.stats.fold()

    def connection_counts(self) -> dict[str, int]:
        self.settle()
        reading = writing = 0
        for conn in self.busy:
            state = conn.state_name()
            if state == "reading":
                reading += 1
            elif state == "writing":
                writing += 1
        total = len(self.busy) + len(self.fresh.since) + len(self.kept.since)
        return {"active": total + len(self.tunnels) // 2, "reading": reading, "writing": writing,
                "waiting": total - reading - writing,
                "accepted": self.accepted, "handled": self.handled, "total_requests": self.stats.requests()}
