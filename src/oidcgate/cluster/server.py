"""The control plane's end of the cluster link: accept data planes, push them the snapshot, track them.

One WebSocket per data plane over mutual TLS (see `tls`). After the data plane's hello, the server
sends it the current snapshot unless it already runs it, and again on every `push()` whose snapshot
it does not run. Each connection has its own sender task and a one-slot outbox: a new snapshot
replaces one still waiting, so a slow data plane gets the latest config when it catches up and never
delays the others. A data plane of an older minor version gets a copy it can load (`compat.downgrade`),
made once per snapshot and version, with its own hash (what that data plane reports once it runs it).
With an `on_analytics` sink the handshake response says analytics reports are taken
(protocol.FEATURES_HEADER), and each report a data plane sends is handed to the sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from oidcgate.cluster import compat, protocol, tls
from oidcgate.cluster.protocol import (
    Analytics,
    DataPlaneStatus,
    Error,
    Heartbeat,
    Hello,
    Reconfigure,
    SyncStatus,
)
from oidcgate.config.declarative import config_hash as hash_of

log = logging.getLogger(__name__)

SnapshotSource = Callable[[], Awaitable[tuple[dict[str, Any], str]]]
StatusSink = Callable[[DataPlaneStatus], Awaitable[None]]
AnalyticsSink = Callable[[Analytics], Awaitable[None]]


@dataclass(frozen=True)
class _Payload:
    """One exported snapshot (or an older data plane's copy of it), compressed once for every data plane."""

    hash: str
    frame: bytes
    plugins: frozenset[str]
    doc: Mapping[str, Any]
    verdict: compat.Verdict = compat.COMPATIBLE  # not NORMAL: no copy an older data plane could be sent


class ClusterServer:
    """Serves data planes on `listen` ("HOST:PORT"; port 0 picks a free one, see `port`)."""

    def __init__(self, listen: str, cert_file: str, key_file: str, snapshot: SnapshotSource,
                 on_status: StatusSink, version: str, *, plugins: Mapping[str, str] | None = None,
                 hello_timeout: float = 10.0, on_analytics: AnalyticsSink | None = None) -> None:
        self._host, self._port = protocol.parse_address(listen)
        self._ssl = tls.server_context(cert_file, key_file)  # fail at construction on a bad cert
        self._snapshot = snapshot
        self._on_status = on_status
        self._on_analytics = on_analytics
        compat.check_version(version, version)  # a malformed own version is a programming error
        self.version = version
        self._minor = compat.major_minor(version) or (0, 0)
        self._plugins = dict(plugins) if plugins is not None else compat.installed_plugins()
        self._hello_timeout = hello_timeout
        self._server: Server | None = None
        self._peers: dict[str, _Peer] = {}  # by node id: a reconnecting node replaces its old link
        self._current: _Payload | None = None
        self._older: dict[tuple[str, tuple[int, int]], _Payload] = {}  # (snapshot hash, dp version): its copy
        self._export_lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        if self._server is None:
            raise RuntimeError("server not started")
        return int(self._server.sockets[0].getsockname()[1])

    def statuses(self) -> list[DataPlaneStatus]:
        """Copies of the statuses of the data planes connected to this node."""
        return [dataclasses.replace(peer.status) for peer in self._peers.values()]

    async def start(self) -> None:
        self._server = await serve(
            self._handle, self._host, self._port, ssl=self._ssl, process_request=_only_outlet,
            process_response=_takes_analytics if self._on_analytics is not None else None,
            compression=None,  # the snapshot is gzipped already; heartbeats are tiny
            max_size=protocol.MAX_TEXT_FRAME, server_header=None,
        )
        log.info("cluster listener on %s:%d (mutual TLS)", self._host, self.port)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        await self._server.wait_closed()
        self._server = None
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    async def push(self) -> None:
        """Export the current snapshot and queue it for every data plane not running it yet."""
        started = time.monotonic()
        payload = await self._export()
        queued = 0
        for peer in list(self._peers.values()):
            changed, sent = peer.offer(await self._for(payload, peer.status.version))
            queued += sent
            if changed:
                await self._report(peer.status)
        log.info("config %s (%d KiB gzipped, exported in %.2f s) queued for %d of %d data planes",
                 payload.hash, len(payload.frame) // 1024, time.monotonic() - started, queued, len(self._peers))

    async def _export(self) -> _Payload:
        async with self._export_lock:
            doc, config_hash = await self._snapshot()
            if self._current is None or self._current.hash != config_hash:
                message = Reconfigure(config=doc, hash=config_hash, timestamp=time.time())
                frame = await asyncio.to_thread(protocol.encode, message)  # large configs: off the loop
                assert isinstance(frame, bytes)
                self._current = _Payload(config_hash, frame, compat.plugins_used(doc), doc)
            return self._current

    async def _for(self, payload: _Payload, dp_version: str) -> _Payload:
        """The payload a data plane of `dp_version` gets: this one, or a copy it can load (made once per
        snapshot and version; what was taken out is logged then, as Kong does)."""
        dp = compat.major_minor(dp_version)
        if dp is None or dp >= self._minor:
            return payload
        key = (payload.hash, dp)
        older = self._older.get(key)
        if older is None:
            down = await asyncio.to_thread(compat.downgrade, payload.doc, dp_version)
            for warning in down.warnings:
                log.warning("oidcgate %s: %s", self.version, warning)
            if down.verdict[0] is not SyncStatus.NORMAL:
                log.warning("no configuration for data planes of version %s: %s", dp_version, down.verdict[1])
                older = dataclasses.replace(payload, verdict=down.verdict)
            elif down.config is payload.doc:
                older = payload
            else:
                config_hash = hash_of(dict(down.config))
                message = Reconfigure(config=dict(down.config), hash=config_hash, timestamp=time.time())
                frame = await asyncio.to_thread(protocol.encode, message)
                assert isinstance(frame, bytes)
                older = _Payload(config_hash, frame, compat.plugins_used(down.config), down.config)
            self._older = {k: v for k, v in self._older.items() if k[0] == payload.hash} | {key: older}
        return older

    def _track(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _report(self, status: DataPlaneStatus) -> None:
        try:
            await self._on_status(dataclasses.replace(status))
        except Exception:  # a store outage must not drop the data plane's link
            log.exception("recording the status of data plane %s failed", status.id)

    async def _handle(self, connection: ServerConnection) -> None:
        ip = str(connection.remote_address[0])
        hello = await _receive_hello(connection, self._hello_timeout)
        if hello is None:
            return
        status = DataPlaneStatus(id=hello.node_id, ip=ip, hostname=hello.hostname, version=hello.version,
                                 config_hash=hello.config_hash, last_seen=int(time.time()))
        peer = _Peer(connection, status, hello.plugins, compat.check_version(self.version, hello.version),
                     self._plugins)
        previous = self._peers.get(hello.node_id)
        self._peers[hello.node_id] = peer
        if previous is not None:  # closed in the background: a half-open link may take close_timeout
            previous.replaced = True
            self._track(previous.connection.close(1000, "replaced by a newer connection of the same node"))
        log.info("data plane %s (%s, %s, version %s) connected", status.id, status.hostname, ip, status.version)
        try:
            peer.offer(await self._for(self._current or await self._export(), hello.version))
            await self._report(status)
            await self._serve(peer)
        finally:
            await peer.stop()
            if not peer.replaced:
                del self._peers[hello.node_id]
                status.last_seen = int(time.time())
                log.info("data plane %s disconnected", status.id)
                await self._report(status)

    async def _serve(self, peer: _Peer) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for frame in peer.connection:
                try:
                    message = protocol.decode(frame)
                except protocol.ProtocolError as exc:
                    log.warning("data plane %s sent a malformed message (%s); closing", peer.status.id, exc)
                    await peer.connection.close(1002, "protocol error")
                    return
                peer.status.last_seen = int(time.time())
                if isinstance(message, Heartbeat):
                    peer.status.config_hash = message.config_hash
                    await self._report(peer.status)
                elif isinstance(message, Error):
                    log.warning("data plane %s refused config %s: %s", peer.status.id, message.hash or "?",
                                message.message)
                elif isinstance(message, Analytics) and self._on_analytics is not None:
                    try:
                        await self._on_analytics(message)
                    except Exception:  # a store outage loses this report, never the data plane's link
                        log.exception("recording analytics of data plane %s failed", peer.status.id)
                else:
                    log.warning("data plane %s sent an unexpected %s; ignored", peer.status.id,
                                type(message).__name__.lower())


class _Peer:
    """One connected data plane: its status, its compatibility and its latest-wins outbox."""

    def __init__(self, connection: ServerConnection, status: DataPlaneStatus, plugins: dict[str, str],
                 version_verdict: compat.Verdict, cp_plugins: Mapping[str, str]) -> None:
        self.connection = connection
        self.status = status
        self.replaced = False
        self._plugins = plugins
        self._cp_plugins = cp_plugins
        self._version_verdict = version_verdict
        self._outbox: str | bytes | None = None
        self._queued_hash: str | None = None  # the config hash last queued, to never queue it twice
        self._reason_sent: str | None = None  # the incompatibility last explained to the data plane
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._send_loop(), name=f"cluster-send-{status.id}")

    def offer(self, payload: _Payload) -> tuple[bool, bool]:
        """Queue `payload` if this data plane may and should get it: (sync_status changed, config queued)."""
        verdict = self._version_verdict
        if verdict[0] is SyncStatus.NORMAL:
            verdict = payload.verdict
        if verdict[0] is SyncStatus.NORMAL:
            verdict = compat.check_plugins(payload.plugins, self._plugins, self._cp_plugins)
        status, reason = verdict
        changed = self.status.sync_status != status.value
        self.status.sync_status = status.value
        if reason is not None:
            if reason != self._reason_sent:
                self._reason_sent = reason
                self._queue(protocol.encode(Error(message=f"no configuration sent: {reason}")))
            return changed, False
        if payload.hash in (self.status.config_hash, self._queued_hash):
            return changed, False
        self._queued_hash = payload.hash
        self._reason_sent = None
        self._queue(payload.frame)
        return changed, True

    def _queue(self, frame: str | bytes) -> None:
        self._outbox = frame  # replaces a frame not sent yet: latest wins
        self._wake.set()

    async def _send_loop(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await self._wake.wait()
                self._wake.clear()
                frame, self._outbox = self._outbox, None
                if frame is not None:
                    await self.connection.send(frame)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def _receive_hello(connection: ServerConnection, timeout: float) -> Hello | None:
    """The data plane's first message, or None after telling it why it is not acceptable."""
    try:
        async with asyncio.timeout(timeout):
            message = protocol.decode(await connection.recv())
        if not isinstance(message, Hello):
            raise protocol.ProtocolError("the first message must be a hello")
        return message
    except TimeoutError:
        await connection.close(1008, "hello expected")
    except protocol.ProtocolError as exc:
        with contextlib.suppress(ConnectionClosed):
            await connection.send(protocol.encode(Error(message=str(exc))))
        await connection.close(1002, "protocol error")
    except ConnectionClosed:
        pass
    return None


def _takes_analytics(connection: ServerConnection, request: Request, response: Response) -> None:
    response.headers[protocol.FEATURES_HEADER] = protocol.ANALYTICS


def _only_outlet(connection: ServerConnection, request: Request) -> Response | None:
    if request.path.split("?", 1)[0] != protocol.PATH:
        return connection.respond(404, "not found\n")
    return None
