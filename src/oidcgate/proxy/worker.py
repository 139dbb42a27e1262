"""One worker process: serves the proxy port (its own SO_REUSEPORT socket) from the runtime the master
sends, reports its counters, and drains on SIGTERM or when the master goes away.

Started by the supervisor as `python -m oidcgate.proxy.worker` with the channel's file descriptor.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import pickle
import signal
import socket
import ssl
import sys
import time

import orjson

from oidcgate.plugins import counters
from oidcgate.plugins.pdk import PluginEnv
from oidcgate.plugins.prometheus import stats as prometheus
from oidcgate.proxy import channel
from oidcgate.proxy.accesslog import AccessLog
from oidcgate.proxy.runtime import compile_snapshot
from oidcgate.proxy.server import LISTEN_BACKLOG, serve
from oidcgate.proxy.settings import Settings
from oidcgate.proxy.state import WorkerState
from oidcgate.tls.contexts import server_context_pairs
from oidcgate.tls.listen import ListenAddress, parse_listen
from oidcgate.tls.sni import sni_callback

log = logging.getLogger("oidcgate.proxy.worker")


def listen_socket(address: ListenAddress, reuse_port: bool = True) -> socket.socket:
    family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((address.host, address.port))
    sock.setblocking(False)
    return sock


class Worker:
    def __init__(self, settings: Settings, index: int, channel_fd: int, node_id: str) -> None:
        self.settings = settings
        self.index = index
        self.channel_fd = channel_fd
        self.node_id = node_id
        self.stopping = asyncio.Event()
        self.state: WorkerState | None = None

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        settings = self.settings
        state = self.state = WorkerState(loop, settings, PluginEnv(self.node_id, socket.gethostname(), settings.prefix_path),
                                         AccessLog(settings.access_log))
        reader, writer = await asyncio.open_connection(sock=socket.socket(fileno=self.channel_fd))
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        # The first frame is the configuration to start with (possibly none).
        kind, payload = await channel.read_frame(reader)
        if kind == channel.CONFIG:
            self._apply(payload, writer)
        servers = [await serve(state, self._listen(address), self._tls_context() if address.ssl else None)
                   for address in parse_listen(settings.proxy_listen)]
        state.start_ticking()
        channel.write_frame(writer, channel.READY)
        control = asyncio.create_task(self._control(reader, writer))
        stop = asyncio.create_task(self.stopping.wait())
        await asyncio.wait({control, stop}, return_when=asyncio.FIRST_COMPLETED)
        control.cancel()
        stop.cancel()
        await self._drain(servers)
        writer.close()
        return 0

    @staticmethod
    def _listen(address: ListenAddress) -> socket.socket:
        sock = listen_socket(address)
        sock.listen(LISTEN_BACKLOG)
        return sock

    def _tls_context(self) -> ssl.SSLContext:
        """The TLS listeners' context: the default certificate, and SNI choosing among the runtime's."""
        context = server_context_pairs(self.settings.ssl_pairs)
        context.sni_callback = sni_callback(
            lambda: self.state.runtime.certificates if self.state and self.state.runtime else None)
        return context

    async def _control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Frames from the master; returns when told to drain or when the master is gone."""
        while True:
            try:
                kind, payload = await channel.read_frame(reader)
            except channel.ChannelClosed:
                log.warning("worker %d: the master went away; draining", self.index)
                return
            if kind == channel.CONFIG:
                self._apply(payload, writer)
            elif kind == channel.STATS:
                channel.write_json(writer, channel.STATS, self._stats())
            elif kind == channel.DRAIN:
                return

    def _apply(self, payload: bytes, writer: asyncio.StreamWriter) -> None:
        """Compile and swap a snapshot; the previous runtime keeps serving if this one fails."""
        state = self.state
        assert state is not None
        if not payload:
            channel.write_json(writer, channel.APPLIED, {"hash": None, "error": None})
            return
        try:
            snapshot = pickle.loads(payload)  # our own master, over a private socketpair
            runtime = compile_snapshot(snapshot, state.env, state.stats, state.runtime, state.settings.vault)
        except Exception as exc:
            log.exception("worker %d: cannot apply the configuration", self.index)
            channel.write_json(writer, channel.APPLIED, {"hash": None, "error": f"{type(exc).__name__}: {exc}"})
            return
        state.swap(runtime)
        settle_heap()
        channel.write_json(writer, channel.APPLIED, {"hash": runtime.hash, "error": None})

    def _stats(self) -> dict[str, object]:
        state = self.state
        assert state is not None
        return {"pid": os.getpid(), "index": self.index, "rss": _rss(), "hash": state.runtime.hash if state.runtime else None,
                "connections": state.connection_counts(), "routes": state.stats.dump(),  # (counts settled)
                "consumers": state.usage.dump(), "prometheus": prometheus.dump(state.stats, state.env),
                "counters": counters.dump(),
                "pool": state.pool.stats(), "started": state.started,
                "upstreams": {name: b.health() for name, b in state.runtime.balancers.items()} if state.runtime else {}}

    async def _drain(self, servers: list[asyncio.Server]) -> None:
        """Stop accepting, let in-flight requests finish (bounded by drain_timeout), then close."""
        state = self.state
        assert state is not None
        state.draining = True
        for server in servers:
            server.close()
        for conn in state.connections():
            conn.close_idle()
        deadline = time.monotonic() + self.settings.drain_timeout
        while (state.connections() or state.tunnels) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for conn in state.connections():
            conn.abort()
        for end in list(state.tunnels):
            end.close()
        state.stop_ticking()
        state.pool.close()
        state.settle()
        state.access_log.close()
        if state.runtime is not None:
            state.runtime.retire()
        with contextlib.suppress(Exception):
            await state.env.close()
        await asyncio.sleep(0)  # let plugin close() tasks start


# A request allocates a few dozen container objects and frees nearly all of them by reference counting;
# CPython's default (a young collection every 700 allocations) then walks the live exchanges every few
# requests for nothing. Every 20,000 it costs the same per collection (the live set), 28 times less often.
YOUNG_COLLECTION_EVERY = 20_000


def settle_heap() -> None:
    """Keep the cyclic GC off the long-lived heap (a snapshot of 10,000 routes is a lot of objects):
    collect what the previous runtime left, then freeze the rest, so the collections that requests
    trigger only look at young objects and never pause the worker for long."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])


def _rss() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="oidcgate-dp-worker")
    parser.add_argument("--channel-fd", type=int, required=True)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--node-id", default="")
    args = parser.parse_args(argv)
    settings = Settings.from_json(orjson.loads(os.environ.pop("OIDCGATE_DP_WORKER_SETTINGS", "{}")))
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format=f"%(asctime)s worker[{args.index}] %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # reloads are the master's business
    import uvloop

    return uvloop.run(Worker(settings, args.index, args.channel_fd, args.node_id).run())


if __name__ == "__main__":
    sys.exit(main())
