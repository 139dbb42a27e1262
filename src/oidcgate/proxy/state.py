"""Per-worker state shared by every connection: the current runtime, the upstream pool, counters.

`tick()` runs about every 250 ms: it refreshes the cached Date header and coarse clock, enforces
client timeouts (header, body, keep-alive) by scanning connections, which is cheaper than a timer per
request, closes idle upstream connections and flushes the access log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Generator
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from oidcgate.plugins.pdk import PluginEnv
from oidcgate.proxy.accesslog import AccessLog
from oidcgate.proxy.headers import TrustedIPs
from oidcgate.proxy.metrics import WorkerStats
from oidcgate.proxy.settings import Settings
from oidcgate.proxy.upstream import Pool
from oidcgate.proxy.usage import ConsumerUsage

if TYPE_CHECKING:
    from oidcgate.proxy.runtime import Runtime
    from oidcgate.proxy.server import ClientConnection
    from oidcgate.proxy.tunnel import TunnelEnd

log = logging.getLogger("oidcgate.proxy")
TICK = 0.25


class WorkerState:
    def __init__(self, loop: asyncio.AbstractEventLoop, settings: Settings, env: PluginEnv | None = None,
                 access_log: AccessLog | None = None) -> None:
        self.loop = loop
        self.settings = settings
        self.pool = Pool(loop)
        self.stats = WorkerStats()
        self.usage = ConsumerUsage()  # requests by consumer, for analytics
        self.env = env or PluginEnv()
        self.access_log = access_log or AccessLog("off")
        self.trusted = TrustedIPs(settings.trusted_ips)
        self.runtime: Runtime | None = None
        self.connections: set[ClientConnection] = set()
        self.tunnels: set[TunnelEnd] = set()
        self.hosts: dict[bytes, tuple[bytes, bytes]] = {}  # Host header -> parsed (see server.parse_host)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.accepted = 0
        self.handled = 0
        self.draining = False
        self.started = time.time()
        self.now = loop.time()
        self.date = formatdate(usegmt=True).encode()
        self._ticker: asyncio.TimerHandle | None = None

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run background work (plugin pipelines, log phases) and keep a reference until it ends."""
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def run_eagerly(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any] | None:
        """Run `coro` now, up to its first real wait; only a coroutine that waits becomes a Task.

        Most plugin phases never wait (a cached token is a dict lookup), and a Task per request costs
        more than the plugins themselves. Python 3.12's eager tasks do the same; this is for 3.11.
        The coroutine must handle its own exceptions (the pipeline phases do).
        """
        try:
            pending = coro.send(None)
        except StopIteration:
            return None
        return self.spawn(_resume(coro, pending))

    def swap(self, runtime: Runtime) -> None:
        previous, self.runtime = self.runtime, runtime
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
        for conn in list(self.connections):
            conn.check(now)
        self.pool.sweep()
        self.stats.fold()
        self.access_log.flush()
        self.access_log.sync_clock()

    def connection_counts(self) -> dict[str, int]:
        reading = writing = waiting = 0
        for conn in self.connections:
            state = conn.state_name()
            if state == "reading":
                reading += 1
            elif state == "writing":
                writing += 1
            else:
                waiting += 1
        return {"active": len(self.connections) + len(self.tunnels) // 2, "reading": reading, "writing": writing, "waiting": waiting,
                "accepted": self.accepted, "handled": self.handled,
                "total_requests": self.stats.requests()}


class Resumed:
    """Hands a suspended coroutine to a Task: yields what the coroutine was waiting on, then drives it."""

    __slots__ = ("coro", "pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self.coro, self.pending = coro, pending

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, pending = self.coro, self.pending
        while True:
            try:
                sent = yield pending
            except BaseException as exc:  # cancellation and the futures' exceptions go to the coroutine
                try:
                    pending = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    pending = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _resume(coro: Coroutine[Any, Any, Any], pending: Any) -> Any:
    return await Resumed(coro, pending)
