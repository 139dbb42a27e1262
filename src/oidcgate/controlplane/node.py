"""One control-plane node: the Admin API, the GUI and the cluster listener in one asyncio process.

Start-up order makes failures clear and early: settings (exposure check), database (schema
revision check), listening sockets (bound before anything runs), then the servers. SIGINT and
SIGTERM stop everything cleanly: the HTTP servers finish their requests, data planes are
disconnected, the watcher stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from oidcgate import __version__
from oidcgate.controlplane import database, migrate, watcher
from oidcgate.controlplane.admin.app import create_app
from oidcgate.controlplane.analytics import AnalyticsStore
from oidcgate.controlplane.settings import Settings, SettingsError
from oidcgate.controlplane.store import Store
from oidcgate.private_files import node_id
from oidcgate.tls import default_cert
from oidcgate.tls.contexts import TLSConfigError, server_context_pairs
from oidcgate.tls.uvicorn import with_tls

log = logging.getLogger("oidcgate.controlplane")


class StartupError(RuntimeError):
    """Why the node cannot start, in words meant for the operator."""


def open_database(settings: Settings) -> Store:
    """The store, after the schema check; only the default SQLite file, created now, is migrated."""
    try:
        url = database.normalize_url(settings.database)
    except database.DatabaseURLError as exc:
        raise StartupError(str(exc)) from None
    path = database.sqlite_path(url)
    fresh_default = settings.database_is_default and path is not None and not path.exists()
    engine = database.create(url)
    where = database.display_url(url)
    try:
        if fresh_default:
            migrate.upgrade(engine)
            log.info("created the embedded database %s (schema %s)", path, migrate.head())
        migrate.check(engine, where)
    except migrate.MigrationRequired as exc:
        engine.dispose()
        raise StartupError(str(exc)) from None
    except Exception as exc:
        engine.dispose()
        raise StartupError(f"cannot use database {where}: {exc}") from None
    return Store(engine)


def bind(address: tuple[str, int]) -> socket.socket:
    host, port = address
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
    except OSError as exc:
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the node (several servers share one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _http_server(app: ASGIApp, tls: ssl.SSLContext | None = None) -> _Server:
    config = uvicorn.Config(app, http="httptools", ws="none", lifespan="auto", log_config=None,
                            server_header=False, proxy_headers=False, timeout_graceful_shutdown=5)
    return _Server(with_tls(config, tls))


def admin_tls(settings: Settings) -> ssl.SSLContext | None:
    """The Admin API's TLS context for an `ssl` listener: the given pair, else the prefix's default one."""
    if not settings.admin_ssl:
        return None
    pairs = ([[settings.admin_ssl_cert, settings.admin_ssl_cert_key]] if settings.admin_ssl_cert
             else default_cert.ensure(settings.prefix))
    try:
        return server_context_pairs(pairs)  # type: ignore[arg-type]
    except TLSConfigError as exc:
        raise StartupError(f"admin TLS: {exc}") from None


def cluster_files(settings: Settings) -> tuple[Path, Path] | None:
    """The cluster certificate and key when hybrid mode is on; StartupError if given but missing."""
    cert, key = settings.cluster_cert, settings.cluster_key
    if not cert.exists() and not settings.cluster_files_given:
        return None
    for path, what in ((cert, "certificate"), (key, "private key")):
        if not path.is_file():
            raise StartupError(f"cluster {what} {path} not found (create both with `oidcgate cluster gen-cert`)")
    return cert, key


def runtime_script_renderer(settings: Settings, cert: Path, key: Path) -> Callable[[], str]:
    """Renders the data-plane start script; a wildcard cluster address is replaced by this host's name."""
    from oidcgate.cluster import protocol, runtime_script

    host, port = protocol.parse_address(settings.cluster_listen)
    if host in ("0.0.0.0", "::", "[::]"):
        host = socket.getfqdn()
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def render() -> str:
        return runtime_script.render(address, cert.read_bytes(), key.read_bytes())

    return render


async def run(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM."""
    try:
        settings.check_exposure()
    except SettingsError as exc:
        raise StartupError(str(exc)) from None
    files = cluster_files(settings)
    store = open_database(settings)
    try:
        await _serve(settings, store, files)
    finally:
        store.engine.dispose()


async def _serve(settings: Settings, store: Store, files: tuple[Path, Path] | None) -> None:
    configuration: dict[str, Any] = {
        "prefix": str(settings.prefix.absolute()),
        "database_url": database.display_url(database.normalize_url(settings.database)),
        "admin_listen": [f"{settings.admin_listen[0]}:{settings.admin_listen[1]}"],
        "admin_gui_listen": ([f"{settings.gui_listen[0]}:{settings.gui_listen[1]}"]
                             if settings.gui_listen else []),
        "cluster_listen": settings.cluster_listen if files else None,
        "admin_token_required": settings.admin_token is not None,
    }
    renderer = runtime_script_renderer(settings, *files) if files else None
    analytics = AnalyticsStore(store.engine, settings.analytics_ttl_minutes)
    admin_app = create_app(store, admin_token=settings.admin_token, node_id=node_id(settings.prefix),
                           configuration=configuration, runtime_script=renderer, analytics_store=analytics)
    listeners: list[tuple[str, ASGIApp, socket.socket, ssl.SSLContext | None]] = [
        ("admin API", admin_app, bind(settings.admin_listen), admin_tls(settings))]
    if settings.gui_listen is not None:
        from oidcgate.controlplane.gui.app import create_app as create_gui

        listeners.append(("GUI", create_gui(admin_app, admin_token=settings.admin_token), bind(settings.gui_listen),
                          None))

    cluster = None
    if files is not None:
        from oidcgate.cluster.server import ClusterServer

        try:
            cluster = ClusterServer(settings.cluster_listen, str(files[0]), str(files[1]),
                                    snapshot=store.export_async, on_status=store.record_data_plane_async,
                                    version=__version__, on_analytics=analytics.record_async)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise StartupError(f"cannot use the cluster certificate {files[0]}: {exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    servers = [_http_server(app, tls) for _, app, _, tls in listeners]
    tasks = [asyncio.create_task(server.serve(sockets=[sock]), name=f"http {name}")
             for server, (name, _, sock, _) in zip(servers, listeners, strict=True)]
    background: list[asyncio.Task[None]] = []
    try:
        if cluster is not None:
            try:
                await cluster.start()
            except OSError as exc:
                raise StartupError(f"cannot listen on {settings.cluster_listen}: {exc.strerror or exc}") from None
            pushed = cluster

            async def push(version: int) -> None:
                log.info("configuration changed (version %d): pushing to data planes", version)
                await pushed.push()

            background.append(asyncio.create_task(watcher.watch(store.version_async, push), name="config watcher"))
        for name, _, sock, tls in listeners:
            host, port = sock.getsockname()[:2]
            log.info("%s on %s://%s:%d", name, "https" if tls else "http", f"[{host}]" if ":" in host else host, port)
        log.info("control plane %s ready (database: %s)", __version__, configuration["database_url"])
        waiter = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        for task in tasks:
            if task in done and task.exception() is not None:
                raise StartupError(f"{task.get_name()} failed: {task.exception()}")
    finally:
        log.info("stopping")
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if cluster is not None:
            await cluster.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
