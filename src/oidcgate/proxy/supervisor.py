"""The master's side of the workers: spawn N processes, restart one that dies, tell them about new
configurations, collect their counters, and drain them on shutdown.

Workers are separate interpreters (`python -m oidcgate.proxy.worker`), each with its own
SO_REUSEPORT socket, so the kernel spreads connections over them and one crash costs one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

from oidcgate.proxy import channel
from oidcgate.proxy.metrics import merge
from oidcgate.proxy.settings import Settings

log = logging.getLogger("oidcgate.proxy.supervisor")
REPLY_TIMEOUT = 60.0  # compiling a very large snapshot takes a while
STATS_TIMEOUT = 3.0


class WorkerHandle:
    def __init__(self, index: int) -> None:
        self.index = index
        self.proc: asyncio.subprocess.Process | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.ready = asyncio.Event()
        self.acks: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.stats_waiters: list[asyncio.Future[dict[str, Any]]] = []
        self.last_stats: dict[str, Any] | None = None
        self.started = 0.0
        self.restarts = 0
        self.reader_task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None


class Supervisor:
    def __init__(self, settings: Settings, node_id: str, current: Callable[[], bytes]) -> None:
        self.settings = settings
        self.node_id = node_id
        self.current = current  # the pickled snapshot a (re)started worker begins with
        self.workers = [WorkerHandle(i) for i in range(settings.workers)]
        self.stopping = False
        self.retired: list[list[list[Any]]] = []  # route counters of workers that exited
        self.retired_usage: list[list[list[Any]]] = []  # and their consumer counters (oidcgate.proxy.usage)
        self.retired_exports: list[dict[str, Any]] = []  # and their `prometheus` and plugin `counters`
        self.retired_connections = {"accepted": 0, "handled": 0}
        self.lock = asyncio.Lock()
        self._watchers: set[asyncio.Task[None]] = set()

    async def start(self, timeout: float = 30.0) -> None:
        await asyncio.gather(*(self._spawn(w) for w in self.workers))
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(w.ready.wait() for w in self.workers))

    async def _spawn(self, worker: WorkerHandle) -> None:
        parent, child = socket.socketpair()
        env = {**os.environ, "OIDCGATE_DP_WORKER_SETTINGS": orjson.dumps(self.settings.to_json()).decode()}
        try:
            worker.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "oidcgate.proxy.worker", "--channel-fd", str(child.fileno()),
                "--index", str(worker.index), "--node-id", self.node_id, pass_fds=(child.fileno(),), env=env)
        finally:
            child.close()
        worker.started = time.monotonic()
        worker.ready = asyncio.Event()
        worker.acks = asyncio.Queue()
        reader, worker.writer = await asyncio.open_connection(sock=parent)
        channel.write_frame(worker.writer, channel.CONFIG, self.current())
        worker.reader_task = asyncio.create_task(self._read(worker, reader))
        watcher = asyncio.create_task(self._watch(worker))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

    async def _read(self, worker: WorkerHandle, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(channel.ChannelClosed):
            while True:
                kind, payload = await channel.read_frame(reader)
                if kind == channel.READY:
                    worker.ready.set()
                elif kind == channel.APPLIED:
                    worker.acks.put_nowait(orjson.loads(payload))
                elif kind == channel.STATS:
                    worker.last_stats = orjson.loads(payload)
                    waiters, worker.stats_waiters = worker.stats_waiters, []
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_result(worker.last_stats)

    async def _watch(self, worker: WorkerHandle) -> None:
        """Restart a worker that exits while we are not stopping (backing off if it keeps crashing)."""
        assert worker.proc is not None
        code = await worker.proc.wait()
        if worker.last_stats is not None:
            self.retired.append(worker.last_stats["routes"])
            self.retired_usage.append(worker.last_stats["consumers"])
            self.retired_exports.append({key: worker.last_stats[key] for key in ("prometheus", "counters")})
            for key in self.retired_connections:
                self.retired_connections[key] += worker.last_stats["connections"][key]
            worker.last_stats = None
        if self.stopping:
            return
        quick = time.monotonic() - worker.started < 5
        worker.restarts = worker.restarts + 1 if quick else 0
        delay = min(5.0, 0.1 * 2 ** worker.restarts) if quick else 0.0
        log.error("worker %d (pid %d) exited with %s; restarting in %.1fs", worker.index, worker.proc.pid, code, delay)
        await asyncio.sleep(delay)
        if not self.stopping:
            await self._spawn(worker)

    async def broadcast(self, payload: bytes) -> list[str]:
        """Send a pickled snapshot to every live worker; returns the errors they reported."""
        async with self.lock:
            live = [w for w in self.workers if w.alive and w.writer is not None]
            for worker in live:
                channel.write_frame(worker.writer, channel.CONFIG, payload)  # type: ignore[arg-type]
            errors = []
            for worker in live:
                try:
                    async with asyncio.timeout(REPLY_TIMEOUT):
                        reply = await worker.acks.get()
                except TimeoutError:
                    errors.append(f"worker {worker.index}: no answer")
                    continue
                if reply.get("error"):
                    errors.append(f"worker {worker.index}: {reply['error']}")
            return errors

    async def collect(self) -> list[dict[str, Any]]:
        """Every live worker's counters (those that do not answer in time are left out)."""
        loop = asyncio.get_running_loop()
        waiters = []
        for worker in self.workers:
            if worker.alive and worker.writer is not None and worker.ready.is_set():
                waiter = loop.create_future()
                worker.stats_waiters.append(waiter)
                channel.write_frame(worker.writer, channel.STATS)
                waiters.append(waiter)
        if not waiters:
            return []
        done, _ = await asyncio.wait(waiters, timeout=STATS_TIMEOUT)
        return [w.result() for w in done]

    def merged_routes(self, reports: list[dict[str, Any]]) -> dict[tuple[str, str], list[Any]]:
        return merge([*self.retired, *(r["routes"] for r in reports)])

    def counters(self) -> tuple[list[list[list[Any]]], list[list[list[Any]]]]:
        """Route and consumer counters of every worker that ever ran, each as it last reported them (call
        collect() first): totals that never go back, also when a worker was too slow to answer this time."""
        latest = [w.last_stats for w in self.workers if w.last_stats is not None]
        return ([*self.retired, *(s["routes"] for s in latest)],
                [*self.retired_usage, *(s["consumers"] for s in latest)])

    async def stop(self) -> None:
        """Drain every worker (they finish in-flight requests), then make sure they are gone."""
        self.stopping = True
        for worker in self.workers:
            if worker.alive and worker.writer is not None:
                with contextlib.suppress(ConnectionError):
                    channel.write_frame(worker.writer, channel.DRAIN)
        procs = [w.proc for w in self.workers if w.proc is not None]
        try:
            async with asyncio.timeout(self.settings.drain_timeout + 5):
                await asyncio.gather(*(p.wait() for p in procs))
        except TimeoutError:
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()
            await asyncio.gather(*(p.wait() for p in procs))
        for worker in self.workers:
            if worker.reader_task is not None:
                worker.reader_task.cancel()
            if worker.writer is not None:
                worker.writer.close()
        for watcher in list(self._watchers):
            watcher.cancel()

    def alive_count(self) -> int:
        return sum(1 for w in self.workers if w.alive and w.ready.is_set())
