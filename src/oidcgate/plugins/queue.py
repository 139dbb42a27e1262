"""Kong's plugin queue (`kong.tools.queue`): entries wait in a bounded per-worker queue and one sender task
hands them to a plugin's send function in batches, retrying a failed batch with exponential backoff.

A request only ever appends (`put`): it never waits for the sender, a collector, a timeout or a retry,
so a slow or dead collector costs a request nothing. The bounds are Kong's `queue` fields:

  - `max_entries`: entries waiting; when full, the oldest entry is dropped for the new one;
  - `max_batch_size` and `max_coalescing_delay`: a batch is sent when it is full or when the delay has
    passed since the sender saw its first entry (no delay with a batch size of 1, nor once the worker
    is stopping: it then gets CLOSE_TIMEOUT seconds to send what is queued);
  - `initial_retry_delay`, `max_retry_delay`, `max_retry_time`: a failed batch is retried after the
    initial delay, doubled after each failure up to the maximum, until `max_retry_time` seconds have
    passed since its first attempt; then it is dropped. Entries queued meanwhile wait behind it.

Every drop is counted in `oidcgate_queue_entries_dropped_total{plugin, reason}` ("full": max_entries;
"retries": max_retry_time; "shutdown": still queued when the worker stopped) and logged at most every
LOG_EVERY seconds per queue. Instances of a plugin with the same queue name (the plugin derives it from
everything that decides where and how it sends) share one queue and one sink (what sends: an HTTP
client, a file) per worker, which outlive configuration changes, so nothing queued is lost when a new
configuration arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from oidcgate.plugins.counters import Counter
from oidcgate.plugins.pdk import PluginEnv

log = logging.getLogger("oidcgate.plugins.queue")

LOG_EVERY = 10.0  # seconds between two log lines about one queue's failures or drops
CLOSE_TIMEOUT = 2.0  # seconds a stopping worker gives its queues to send what they hold

DROPPED = Counter("oidcgate_queue_entries_dropped_total",
                  "Entries a plugin queue dropped: full (max_entries), retries (max_retry_time), shutdown",
                  ("plugin", "reason"))



class Sink(Protocol):
    """Where a queue's batches go."""

    async def send(self, batch: list[Any]) -> None:
        """Deliver the batch; raise on failure (the queue retries it)."""

    async def aclose(self) -> None:
        """Release what `send` opened (called after the queue was flushed at shutdown)."""


class QueueConfig(BaseModel):
    """Kong's `queue` record (kong.tools.queue_schema), its defaults included."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_batch_size: int = Field(default=1, ge=1, le=1_000_000, description=(
        "Maximum number of entries that can be processed at a time."))
    max_coalescing_delay: float = Field(default=1, ge=0, le=3600, description=(
        "Maximum number of (fractional) seconds to elapse after the first entry was queued before the queue "
        "starts calling the handler."))
    max_entries: int = Field(default=10000, ge=1, le=1_000_000, description=(
        "Maximum number of entries that can be waiting on the queue; when full, the oldest is dropped."))
    max_bytes: None = Field(default=None, description=(
        "Kong's byte bound on waiting entries: not supported, leave it unset (max_entries bounds the queue)."))
    max_retry_time: float = Field(default=60, description=(
        "Time in seconds before the queue gives up calling a failed handler for a batch (-1: no retries)."))
    initial_retry_delay: float = Field(default=0.01, ge=0.001, le=1_000_000, description=(
        "Time in seconds before the initial retry is made for a failing batch."))
    max_retry_delay: float = Field(default=60, ge=0.001, le=1_000_000, description=(
        "Maximum time in seconds between retries, caps exponential backoff."))
    concurrency_limit: Literal[1] = Field(default=1, description=(
        "The number of queue delivery timers: one sender per queue (Kong's -1, unlimited, is not supported)."))


class Queue:
    """One named queue in one worker (see the module doc)."""

    def __init__(self, plugin: str, name: str, config: QueueConfig, sink: Sink) -> None:
        self.plugin, self.name = plugin, name
        self.config, self.sink = config, sink
        self.entries: deque[Any] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.wake_at = 1  # entries queued that wake a waiting sender
        self.task: asyncio.Task[None] | None = None
        self.idle = asyncio.Event()  # the sender waits and nothing is queued
        self.sending = 0  # entries of the batch being delivered
        self.closing = False  # the worker stops: no more coalescing
        self.logged_at = -LOG_EVERY
        self.unlogged_drops = 0

    def put(self, entry: Any) -> None:
        """Queue an entry (dropping the oldest one when full); never waits."""
        entries = self.entries
        if len(entries) >= self.config.max_entries:
            entries.popleft()
            self._dropped("full", 1)
        entries.append(entry)
        self.idle.clear()
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())
        elif len(entries) >= self.wake_at and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def _run(self) -> None:
        entries = self.entries
        while True:
            if not entries:
                self.idle.set()
                await self._wait(1, None)
            config = self.config
            size = config.max_batch_size
            if size > 1 and config.max_coalescing_delay > 0 and len(entries) < size and not self.closing:
                await self._wait(size, config.max_coalescing_delay)
            batch = [entries.popleft() for _ in range(min(size, len(entries)))]
            await self._deliver(batch)

    async def _wait(self, count: int, timeout: float | None) -> None:
        """Until `count` entries are queued (or `timeout` seconds passed)."""
        self.wake_at = count
        waiter = self.waiter = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait((waiter,), timeout=timeout)
        finally:
            self.waiter = None

    async def _deliver(self, batch: list[Any]) -> None:
        started = time.monotonic()
        delay = self.config.initial_retry_delay
        self.sending = len(batch)
        while True:
            try:
                await self.sink.send(batch)
                self.sending = 0
                return
            except Exception as exc:
                self._log(f"{self.plugin} queue {self.name}: sending {len(batch)} entries failed: {exc}")
            config = self.config
            if time.monotonic() - started + delay > config.max_retry_time:
                self.sending = 0
                self._dropped("retries", len(batch))
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, config.max_retry_delay)

    def _dropped(self, reason: str, count: int) -> None:
        DROPPED.inc(self.plugin, reason, amount=count)
        self.unlogged_drops += count
        if self._log(f"{self.plugin} queue {self.name}: dropped {self.unlogged_drops} entries ({reason})"):
            self.unlogged_drops = 0

    def _log(self, message: str) -> bool:
        now = time.monotonic()
        if now - self.logged_at < LOG_EVERY:
            return False
        self.logged_at = now
        log.error("%s", message)
        return True

    async def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Give the sender `timeout` seconds to send what is queued, then stop it (the rest is dropped)."""
        task = self.task
        if task is None:
            return
        self.closing = True
        if self.entries and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)  # (a sender waiting to coalesce a batch sends it now)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.idle.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        lost = len(self.entries) + self.sending
        if lost:
            self._dropped("shutdown", lost)
            self.entries.clear()


def shared_queue(env: PluginEnv, plugin: str, name: str, config: QueueConfig, sink: Callable[[], Sink]) -> Queue:
    """The worker's queue called `name` for `plugin`: created with its sink (`sink()`) on first use and
    closed with the env (flushed, then the sink closed); a newer configuration's instance takes it over
    with its own queue settings."""
    queues: dict[str, Queue] = env.state(plugin).setdefault("queues", {})
    queue = queues.get(name)
    if queue is None:
        made = sink()
        queue = queues[name] = Queue(plugin, name, config, made)
        env.on_close(made.aclose)
        env.on_close(queue.close)  # (closers run last first: the queue is flushed before its sink closes)
    else:
        queue.config = config
    return queue
