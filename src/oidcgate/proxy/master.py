"""The `oidcgate dp` master: owns the configuration, supervises the workers, serves status and admin.

Signals: SIGTERM/SIGINT drain (workers stop accepting and finish in-flight requests, bounded by
--drain-timeout); SIGHUP reloads --config (so does a change of the file, checked every second).
An invalid new configuration is logged with every error and the running one stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oidcgate import __version__
from oidcgate.config import ConfigError, load_file
from oidcgate.plugins import registry
from oidcgate.private_files import node_id, private_dir, tighten
from oidcgate.proxy.intake import ConfigIntake
from oidcgate.proxy.settings import Settings
from oidcgate.proxy.status import EmbeddedServer, admin_app, embedded, status_app
from oidcgate.proxy.supervisor import Supervisor
from oidcgate.proxy.worker import listen_socket
from oidcgate.tls import default_cert
from oidcgate.tls.contexts import TLSConfigError, server_context_pairs
from oidcgate.tls.listen import ListenAddress, format_listen, parse_listen

if TYPE_CHECKING:
    from oidcgate.cluster.client import ClusterClient

log = logging.getLogger("oidcgate.proxy.master")
WATCH_INTERVAL = 1.0


def _file_state(path: str) -> tuple[int, int, int] | None:
    try:
        stat = Path(path).stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


class Master:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.prefix = settings.prefix_path
        self.started = time.time()
        self.node_id = ""
        self.intake = ConfigIntake(self.prefix, settings.vault)
        self.supervisor: Supervisor = None  # type: ignore[assignment]
        self.stop_event = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()
        self.servers: list[tuple[EmbeddedServer, asyncio.Task[None]]] = []
        self.cluster_client: ClusterClient | None = None  # hybrid mode (for /metrics)

    async def run(self) -> int:
        settings = self.settings
        private_dir(self.prefix)
        tighten(self.intake.path)  # left loose by an older version, whether or not it is used now
        self.node_id = node_id(self.prefix)
        if not await self._initial_configuration():
            return 1
        listens = {name: parse_listen(value) for name in ("proxy", "status", "admin")
                   if (value := getattr(settings, f"{name}_listen")) != "off"}
        try:
            tls = self._tls(listens)
        except (TLSConfigError, OSError, ValueError) as exc:
            print(f"oidcgate dp: default certificate: {exc}", file=sys.stderr)
            return 1
        try:
            reserved = [listen_socket(a) for a in listens["proxy"]]  # fails early on a bad or busy address
            sockets = [(name, address, self._bind(address)) for name in ("status", "admin")
                       for address in listens.get(name, ())]
        except OSError as exc:
            print(f"oidcgate dp: cannot listen: {exc}", file=sys.stderr)
            return 1
        settings.proxy_listen = format_listen([a.with_port(s.getsockname()[1])
                                               for a, s in zip(listens["proxy"], reserved, strict=True)])
        self.supervisor = Supervisor(settings, self.node_id, lambda: self.intake.payload)
        self.intake.broadcast = self.supervisor.broadcast
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop_event.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self.reload("SIGHUP")))
        try:
            await self.supervisor.start()
        except TimeoutError:
            print("oidcgate dp: workers did not start", file=sys.stderr)
            await self.supervisor.stop()
            return 1
        for name, address, sock in sockets:
            self._serve(status_app(self) if name == "status" else admin_app(self), sock, tls if address.ssl else None)
        if settings.config:
            self._spawn(self.watch(settings.config))
        if settings.cp:
            self._spawn(self.cluster())
        self._banner(sockets)
        await self.stop_event.wait()
        await self._drain()
        for sock in reserved:
            sock.close()
        return 0

    async def _initial_configuration(self) -> bool:
        """The configuration to start with: --config (False when it is invalid, every error printed),
        else the last good one of the prefix, if any."""
        settings = self.settings
        if settings.config:
            try:
                self.intake.set_initial(await asyncio.to_thread(load_file, settings.config, registry.config_schema))
            except ConfigError as exc:
                print(f"{settings.config}: invalid configuration ({len(exc.errors)} error(s)):", file=sys.stderr)
                for error in exc.errors:
                    print(f"  {error}", file=sys.stderr)
                return False
            return True
        persisted = await asyncio.to_thread(self.intake.load_persisted)
        try:
            if persisted is not None:
                self.intake.set_initial(persisted)
                log.info("starting from the last good configuration %s (%s)", persisted.hash, self.intake.path)
        except ConfigError as exc:  # e.g. a secret's environment variable is gone
            log.warning("ignoring %s: %s", self.intake.path, exc)
        return True

    async def _drain(self) -> None:
        log.info("draining")
        for task in list(self.tasks):
            task.cancel()
        await self.supervisor.stop()
        for server, task in self.servers:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await task

    def _tls(self, listens: dict[str, list[ListenAddress]]) -> ssl.SSLContext | None:
        """The default certificate (--ssl-cert, or generated into the prefix) when any listener has `ssl`."""
        settings = self.settings
        if not any(a.ssl for addresses in listens.values() for a in addresses):
            return None
        if settings.ssl_cert or settings.ssl_cert_key:
            if not (settings.ssl_cert and settings.ssl_cert_key):
                raise ValueError("--ssl-cert and --ssl-cert-key go together")
            settings.ssl_pairs = [[settings.ssl_cert, settings.ssl_cert_key]]
        else:
            settings.ssl_pairs = [list(pair) for pair in default_cert.ensure(self.prefix)]
        return server_context_pairs(settings.ssl_pairs)  # loaded once here: a bad file stops the start

    def _bind(self, address: ListenAddress) -> socket.socket:
        sock = listen_socket(address, reuse_port=False)
        sock.listen(128)
        return sock

    def _serve(self, app: object, sock: socket.socket, tls: ssl.SSLContext | None) -> None:
        server = embedded(app, tls)  # type: ignore[arg-type]
        self.servers.append((server, asyncio.create_task(server.serve(sockets=[sock]))))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _banner(self, sockets: list[tuple[str, ListenAddress, socket.socket]]) -> None:
        s = self.settings
        proxy = ", ".join(f"{a.scheme}://{a.authority}" for a in parse_listen(s.proxy_listen))
        lines = [f"oidcgate dp {__version__}: proxy on {proxy} ({s.workers} worker(s))"]
        for name, listen, sock in sockets:
            address = sock.getsockname()
            lines.append(f"  {name} API on {listen.scheme}://{address[0]}:{address[1]}")
        config = self.intake.snapshot
        lines.append(f"  configuration {config.hash if config else 'none yet'}"
                     + (f" from {s.config}" if s.config else "") + (f"; control plane {s.cp}" if s.cp else ""))
        print("\n".join(lines), file=sys.stderr, flush=True)

    async def reload(self, why: str) -> None:
        """Reload --config; an invalid file leaves the running configuration in place."""
        path = self.settings.config
        if not path:
            log.info("%s: no --config to reload", why)
            return
        try:
            snapshot = await asyncio.to_thread(load_file, path, registry.config_schema)
            await self.intake.apply_snapshot(snapshot)
        except ConfigError as exc:
            log.error("%s: %s is invalid, keeping configuration %s:\n  %s", why, path, self.intake.current_hash(),
                      "\n  ".join(str(e) for e in exc.errors))

    async def watch(self, path: str) -> None:
        """Reload when the file changes (polled: no inotify dependency, works on every filesystem)."""
        last = _file_state(path)
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            current = _file_state(path)
            if current is not None and current != last:
                last = current
                await self.reload(f"{path} changed")

    async def cluster(self) -> None:
        """Keep in sync with the control plane and report analytics to it (oidcgate.cluster's client and
        the analytics reporter, imported only when used)."""
        from oidcgate.cluster.client import AnalyticsOutbox, ClusterClient
        from oidcgate.proxy.analytics import AnalyticsReporter

        s = self.settings
        outbox = AnalyticsOutbox() if s.analytics_flush_interval else None
        client = self.cluster_client = ClusterClient(
            s.cp, s.cluster_cert, s.cluster_key, apply=self.intake.apply_document,  # type: ignore[arg-type]
            current_hash=self.intake.current_hash, node_id=self.node_id, hostname=socket.gethostname(),
            version=__version__, server_name=s.cluster_server_name, analytics=outbox)
        if outbox is not None:
            reporter = AnalyticsReporter(self.supervisor, lambda: self.intake.snapshot, outbox,
                                         s.analytics_flush_interval)
            self._spawn(reporter.run())
        await client.run()
