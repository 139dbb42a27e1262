"""The data plane's end of the cluster link: stay connected to the control plane, apply what it pushes.

`run()` never gives up: when the control plane is down the data plane keeps serving its last config
(the proxy's job) while this loop retries with exponential backoff and jitter, so a fleet of data
planes does not reconnect in lockstep after a control-plane restart.

Heartbeats default to every 10 s rather than Kong's 30 s: the runtime manager (`last_seen`, the
config hash of each data plane) is only as fresh as the last heartbeat, and one tiny frame per data
plane every 10 s costs nothing. A heartbeat is also sent right after each applied config, so the
control plane sees the new hash at once.

Analytics reports (`oidcgate.proxy.analytics`) wait in an AnalyticsOutbox and go out in order whenever
the link is up and the control plane said it takes them; while it is down they are kept, up to a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidMessage

from oidcgate.cluster import certs, compat, protocol, tls
from oidcgate.cluster.protocol import Analytics, Error, Heartbeat, Hello, Reconfigure
from oidcgate.config.errors import ConfigError

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = 10.0
BACKOFF_INITIAL = 1.0
BACKOFF_MAX = 30.0
MAX_FRAME = 64 * 1024 * 1024  # compressed snapshot; decompression is bounded separately
_ERROR_DETAIL_LIMIT = 20  # validation errors reported back to the control plane
OUTBOX_LIMIT = 3600  # analytics reports kept while the link is down: an hour at one a second


def backoff_delay(attempt: int, initial: float = BACKOFF_INITIAL, maximum: float = BACKOFF_MAX,
                  rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before reconnect `attempt` (0-based): doubling up to `maximum`, "equal jitter".

    Half of the ceiling is fixed (no hot loop), the other half random (no thundering herd).
    """
    ceiling = min(maximum, initial * 2 ** min(attempt, 32))
    return ceiling / 2 + rand() * ceiling / 2


class AnalyticsOutbox:
    """Analytics reports not sent yet, oldest first; past `limit` the oldest is dropped (and counted)."""

    def __init__(self, limit: int = OUTBOX_LIMIT) -> None:
        self._queue: deque[Analytics] = deque()
        self._limit = limit
        self._ready = asyncio.Event()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, message: Analytics) -> None:
        if len(self._queue) >= self._limit:
            self._queue.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("analytics: the control plane is unreachable; %d report(s) dropped", self.dropped)
        self._queue.append(message)
        self._ready.set()

    async def next(self) -> Analytics:
        """The oldest report, once there is one (it stays queued until `sent`)."""
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        return self._queue[0]

    def sent(self, message: Analytics) -> None:
        if self._queue and self._queue[0] is message:  # (unless dropped meanwhile)
            self._queue.popleft()


class ClusterClient:
    """Keeps one data plane in sync with the control plane at `cp_address` ("HOST:PORT")."""

    def __init__(self, cp_address: str, cert_file: str, key_file: str,
                 apply: Callable[[dict[str, Any]], Awaitable[str]], current_hash: Callable[[], str],
                 node_id: str, hostname: str, version: str, server_name: str | None = None, *,
                 heartbeat_interval: float = HEARTBEAT_INTERVAL, backoff_initial: float = BACKOFF_INITIAL,
                 backoff_max: float = BACKOFF_MAX, plugins: Mapping[str, str] | None = None,
                 open_timeout: float = 10.0, analytics: AnalyticsOutbox | None = None) -> None:
        host, port = protocol.parse_address(cp_address)
        self._uri = f"wss://{f'[{host}]' if ':' in host else host}:{port}{protocol.PATH}"
        self._ssl = tls.client_context(cert_file, key_file, server_name)  # fail fast on a bad cert
        self._server_name = server_name or certs.COMMON_NAME
        self._apply = apply
        self._current_hash = current_hash
        self._node = (node_id, hostname, version)
        self._plugins = dict(plugins) if plugins is not None else compat.installed_plugins()
        self._heartbeat_interval = heartbeat_interval
        self._backoff = (backoff_initial, backoff_max)
        self._open_timeout = open_timeout
        self._analytics = analytics
        self.connected = False

    async def run(self) -> None:
        """Connect, sync and reconnect until cancelled."""
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                await self._session()
                reason = "connection closed by the control plane"
            except (OSError, TimeoutError, InvalidHandshake, InvalidMessage, ConnectionClosed) as exc:
                reason = _describe(exc)
            except Exception:  # a bug must not stop the data plane from ever syncing again
                log.exception("cluster link failed unexpectedly")
                reason = "internal error"
            finally:
                self.connected = False
            if time.monotonic() - started >= self._heartbeat_interval:
                attempt = 0  # the link was healthy for a while: start over with short delays
            delay = backoff_delay(attempt, *self._backoff)
            attempt += 1
            log.warning("control plane %s unavailable (%s); retrying in %.1f s", self._uri, reason, delay)
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        async with connect(self._uri, ssl=self._ssl, server_hostname=self._server_name, compression=None,
                           max_size=MAX_FRAME, open_timeout=self._open_timeout, proxy=None,
                           user_agent_header=f"oidcgate/{self._node[2]}") as connection:
            node_id, hostname, version = self._node
            await connection.send(protocol.encode(Hello(node_id, hostname, version, self._current_hash(),
                                                        self._plugins)))
            self.connected = True
            log.info("connected to control plane %s", self._uri)
            background = [asyncio.create_task(self._heartbeats(connection), name="cluster-heartbeat")]
            if self._analytics is not None:
                if protocol.ANALYTICS in _features(connection):
                    background.append(asyncio.create_task(self._send_analytics(connection, self._analytics),
                                                          name="cluster-analytics"))
                else:
                    log.warning("the control plane does not take analytics reports (an older version?); "
                                "none are sent on this link")
            try:
                async for frame in connection:
                    try:
                        message = protocol.decode(frame)
                    except protocol.ProtocolError as exc:
                        log.error("control plane sent a malformed message (%s); reconnecting", exc)
                        return
                    if isinstance(message, Reconfigure):
                        await self._reconfigure(connection, message)
                    elif isinstance(message, Error):
                        log.error("control plane: %s", message.message)
            finally:
                for task in background:
                    task.cancel()
                await asyncio.gather(*background, return_exceptions=True)

    async def _reconfigure(self, connection: ClientConnection, message: Reconfigure) -> None:
        """Apply a pushed snapshot; a refused one is reported back and the running config stays."""
        if message.hash != self._current_hash():
            started = time.monotonic()
            try:
                applied = await self._apply(message.config)
            except ConfigError as exc:
                details = "; ".join(str(e) for e in exc.errors[:_ERROR_DETAIL_LIMIT])
                log.error("config %s from the control plane refused: %s", message.hash, details)
                await connection.send(protocol.encode(Error(message=f"invalid configuration: {details}",
                                                            hash=message.hash)))
                return
            except Exception:
                log.exception("applying config %s from the control plane failed", message.hash)
                await connection.send(protocol.encode(Error(message="the data plane failed to apply the "
                                                                    "configuration; see its log",
                                                            hash=message.hash)))
                return
            if applied != message.hash:
                log.warning("config from the control plane announced hash %s but hashes to %s",
                            message.hash, applied)
            log.info("applied config %s from the control plane in %.2f s", applied, time.monotonic() - started)
        await connection.send(protocol.encode(Heartbeat(config_hash=self._current_hash())))

    async def _heartbeats(self, connection: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(self._heartbeat_interval)
                await connection.send(protocol.encode(Heartbeat(config_hash=self._current_hash())))

    async def _send_analytics(self, connection: ClientConnection, outbox: AnalyticsOutbox) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                message = await outbox.next()
                await connection.send(protocol.encode(message))
                outbox.sent(message)


def _features(connection: ClientConnection) -> set[str]:
    """What the control plane said it takes beyond Kong's messages, in its handshake response."""
    listed = connection.response.headers.get(protocol.FEATURES_HEADER, "") if connection.response else ""
    return {feature.strip() for feature in listed.split(",")}


def _describe(exc: BaseException) -> str:
    """A log line an operator can act on; a certificate mismatch otherwise reads like network noise."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"its certificate is not this data plane's cluster certificate: {exc.verify_message}"
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."
