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
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from oidcgate import __version__
from oidcgate.config import ConfigError, load_file
from oidcgate.plugins import registry
from oidcgate.private_files import node_id, private_dir, tighten
from oidcgate.proxy.intake import ConfigIntake
from oidcgate.proxy.settings import Settings, parse_listen
from oidcgate.proxy.status import EmbeddedServer, admin_app, embedded, status_app
from oidcgate.proxy.supervisor import Supervisor
from oidcgate.proxy.worker import listen_socket

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

    async def run(self) -> int:
        settings = self.settings
        private_dir(self.prefix)
        tighten(self.intake.path)  # left loose by an older version, whether or not it is used now
        self.node_id = node_id(self.prefix)
        if settings.config:
            try:
                self.intake.set_initial(await asyncio.to_thread(load_file, settings.config, registry.config_schema))
            except ConfigError as exc:
                print(f"{settings.config}: invalid configuration ({len(exc.errors)} error(s)):", file=sys.stderr)
                for error in exc.errors:
                    print(f"  {error}", file=sys.stderr)
                return 1
        else:
            persisted = await asyncio.to_thread(self.intake.load_persisted)
            try:
                if persisted is not None:
                    self.intake.set_initial(persisted)
                    log.info("starting from the last good configuration %s (%s)", persisted.hash, self.intake.path)
            except ConfigError as exc:  # e.g. a secret's environment variable is gone
                log.warning("ignoring %s: %s", self.intake.path, exc)
        try:
            reserved = listen_socket(settings.proxy_listen)  # fails early on a bad or busy address
            sockets = {name: self._bind(getattr(settings, f"{name}_listen")) for name in ("status", "admin")}
        except OSError as exc:
            print(f"oidcgate dp: cannot listen: {exc}", file=sys.stderr)
            return 1
        host, _ = parse_listen(settings.proxy_listen)
        settings.proxy_listen = f"[{host}]:{reserved.getsockname()[1]}" if ":" in host else \
            f"{host}:{reserved.getsockname()[1]}"
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
        for name, sock in sockets.items():
            if sock is not None:
                self._serve(status_app(self) if name == "status" else admin_app(self), sock)
        if settings.config:
            self._spawn(self.watch(settings.config))
        if settings.cp:
            self._spawn(self.cluster())
        self._banner(sockets)
        await self.stop_event.wait()
        log.info("draining")
        for task in list(self.tasks):
            task.cancel()
        await self.supervisor.stop()
        for server, task in self.servers:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await task
        reserved.close()
        return 0

    def _bind(self, address: str) -> socket.socket | None:
        if address == "off":
            return None
        sock = listen_socket(address, reuse_port=False)
        sock.listen(128)
        return sock

    def _serve(self, app: object, sock: socket.socket) -> None:
        server = embedded(app)  # type: ignore[arg-type]
        self.servers.append((server, asyncio.create_task(server.serve(sockets=[sock]))))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _banner(self, sockets: dict[str, socket.socket | None]) -> None:
        s = self.settings
        lines = [f"oidcgate dp {__version__}: proxy on http://{s.proxy_listen} ({s.workers} worker(s))"]
        for name, sock in sockets.items():
            if sock is not None:
                address = sock.getsockname()
                lines.append(f"  {name} API on http://{address[0]}:{address[1]}")
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
        """Keep in sync with the control plane (oidcgate.cluster's client, imported only when used)."""
        from oidcgate.cluster.client import ClusterClient

        s = self.settings
        client = ClusterClient(s.cp, s.cluster_cert, s.cluster_key, apply=self.intake.apply_document,  # type: ignore[arg-type]
                               current_hash=self.intake.current_hash, node_id=self.node_id,
                               hostname=socket.gethostname(), version=__version__,
                               server_name=s.cluster_server_name)
        await client.run()
