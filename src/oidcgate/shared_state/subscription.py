"""A worker's pub/sub connection to Redis: what lets it keep copies of shared state (see `nearcache`).

One per event loop (worker) and Redis address, made on first use and kept for the life of the worker:
- it subscribes to the channels its listeners join and hands every message to them in the very
  callback that reads it from the socket (no task switch in between);
- `live(channel)` holds only while the connection is up and Redis has confirmed that channel, and
  `answering(channel)` only while, besides, no byte waits unread on the socket: a copy is never used
  while a message that may concern it has reached the worker but is not applied yet;
- a lost connection (Redis restarted, `CLIENT KILL`, a PING unanswered for HEARTBEAT seconds) tells
  every listener at once (`lost`), then it reconnects with backoff (BACKOFF_FIRST doubling to
  BACKOFF_MAX);
- `close_pools()` stops it (a worker's shutdown, a test's end).

It speaks the few RESP2 frames pub/sub needs itself rather than through redis-py's PubSub, whose reads
run in a task and whose socket cannot be polled without reading: the two guarantees above need both.
Its Redis client name is `oidcgate-sub-<pid>` (CLIENT LIST shows it).
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import ssl
import weakref
from typing import Any, Protocol

from oidcgate.shared_state.config import RedisConfig
from oidcgate.shared_state.held import Gate

log = logging.getLogger("oidcgate.shared_state")

HEARTBEAT = 1.0  # a PING each second; one unanswered by the next is a lost connection
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0

_subscriptions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[RedisConfig, Subscription]] = (
    weakref.WeakKeyDictionary())


class Listener(Protocol):
    def changed(self, message: bytes) -> None:
        """A message on the listener's channel."""

    def lost(self) -> None:
        """The connection is gone: messages may be missed from now until it is live again."""


class RespError(Exception):
    """An error reply from Redis (`-ERR ...`, `-WRONGPASS ...`)."""


def encode(*args: str) -> bytes:
    """One command as a RESP2 array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def parse(buffer: bytes | bytearray, pos: int) -> tuple[Any, int] | None:
    """The RESP2 value at `pos` and where the next one starts, or None when it is not all there yet."""
    end = buffer.find(b"\r\n", pos)
    if end < 0:
        return None
    kind, line, pos = buffer[pos:pos + 1], bytes(buffer[pos + 1:end]), end + 2
    if kind == b"+":
        return line, pos
    if kind == b"-":
        return RespError(line.decode("utf-8", "replace")), pos
    if kind == b":":
        return int(line), pos
    if kind == b"$":
        size = int(line)
        if size < 0:
            return None, pos
        if len(buffer) < pos + size + 2:
            return None
        return bytes(buffer[pos:pos + size]), pos + size + 2
    if kind == b"*":
        items = []
        for _ in range(max(0, int(line))):
            parsed = parse(buffer, pos)
            if parsed is None:
                return None
            item, pos = parsed
            items.append(item)
        return items, pos
    raise ValueError(f"not a RESP2 frame: {bytes(kind)!r}")


class _Connection(asyncio.Protocol):
    """The socket side: frames are parsed and dispatched as they arrive."""

    def __init__(self, owner: Subscription) -> None:
        self.owner = owner
        self.buffer = bytearray()  # a frame not complete yet
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        pos = 0
        try:
            while (parsed := parse(self.buffer, pos)) is not None:
                value, pos = parsed
                self.owner.reply(self, value)
        except ValueError as exc:  # (int() of a damaged length, an unknown frame type)
            log.warning("redis %s: subscription: %s; reconnecting", self.owner.config.address(), exc)
            self.buffer.clear()
            self.close()
            return
        del self.buffer[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self.owner.disconnected(self)

    def close(self) -> None:
        """Cut the connection; the subscription stops being live now, not when the loop notices."""
        if self.transport is not None:
            self.transport.abort()
        self.owner.disconnected(self)


class Subscription:
    """This worker's subscription to one Redis: channels, their listeners, and whether it is live."""

    def __init__(self, config: RedisConfig) -> None:
        self.config = config
        self.listeners: dict[str, weakref.WeakSet[Any]] = {}
        self.gate = Gate()  # what says whether copies may answer (the per-request check), and which
        # channels Redis confirmed on this connection
        self.name = f"oidcgate-sub-{os.getpid()}"
        self._conn: _Connection | None = None
        self._pong_due = False
        self._up = False  # Redis confirmed a channel on this connection
        self._task: asyncio.Task[None] | None = None

    def join(self, channel: str, listener: Listener) -> None:
        """Deliver `channel`'s messages to `listener` (held weakly) from now on; starts the connection."""
        known = channel in self.listeners
        self.listeners.setdefault(channel, weakref.WeakSet()).add(listener)
        if not known and self._conn is not None and self._conn.transport is not None:
            self._conn.transport.write(encode("SUBSCRIBE", channel))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def live(self, channel: str) -> bool:
        return channel in self.gate.confirmed

    def answering(self, channel: str) -> bool:
        """Whether copies kept for `channel` may answer now: it is confirmed (`live`) and nothing waits
        unread, no partial frame kept and no byte on the socket (a worker asks on every request that a
        copy answers: `gate.answering`, one call)."""
        return self.gate.answering(channel)

    def reply(self, conn: _Connection, value: Any) -> None:
        if conn is not self._conn:
            return  # what a connection cut off already still had in its buffer
        if isinstance(value, RespError):
            log.warning("redis %s: subscription refused: %s", self.config.address(), value)
            conn.close()
            return
        if not isinstance(value, list) or not value:
            return  # +OK of AUTH and CLIENT SETNAME
        kind = value[0]
        if kind == b"message" and len(value) == 3:
            for listener in list(self.listeners.get(value[1].decode("utf-8", "replace"), ())):
                listener.changed(value[2])
        elif kind == b"subscribe" and len(value) == 3:
            self.gate.confirmed.add(value[1].decode("utf-8", "replace"))
            self._up = True
        elif kind == b"pong":
            self._pong_due = False

    def disconnected(self, conn: _Connection) -> None:
        """The connection is gone: nothing is live until it is back, and every copy goes now."""
        if conn is not self._conn:
            return
        self._conn = self.gate.buffer = None
        self._stop_polling()
        self.gate.confirmed.clear()
        for listeners in self.listeners.values():
            for listener in list(listeners):
                listener.lost()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._conn is not None:
            self._conn.close()

    async def _run(self) -> None:
        delay = BACKOFF_FIRST
        while True:
            try:
                conn = await self._connect()
                await self._watch(conn)
                reason = "lost"
            except (OSError, TimeoutError) as exc:
                reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
            if self._up:  # it was up: start the backoff again
                delay = BACKOFF_FIRST
            log.warning("redis %s: subscription %s; reconnecting in %.1f s", self.config.address(), reason, delay)
            if self._conn is not None:
                self._conn.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    async def _connect(self) -> _Connection:
        config = self.config
        loop = asyncio.get_running_loop()
        context = None
        if config.ssl:  # (as the pools do: see client._client)
            context = ssl.create_default_context()
            context.check_hostname = config.ssl_verify and config.server_name is not None
            if not config.ssl_verify:
                context.verify_mode = ssl.CERT_NONE
        async with asyncio.timeout(config.connect_timeout / 1000):
            _, conn = await loop.create_connection(
                lambda: _Connection(self), config.host, config.port, ssl=context,
                server_hostname=(config.server_name or config.host) if context else None)
        assert conn.transport is not None
        self._stop_polling()
        # an epoll of this one socket for the gate: epoll_wait(0) reads a ready list, cheaper than poll(0)
        poll = select.epoll(1)
        poll.register(conn.transport.get_extra_info("socket").fileno(), select.EPOLLIN)
        self._conn, self._pong_due, self._up = conn, False, False
        self.gate.buffer, self.gate.poll = conn.buffer, poll
        commands = []
        if config.password:
            commands.append(encode("AUTH", *filter(None, (config.username, config.password))))
        commands += [encode("CLIENT", "SETNAME", self.name), encode("SUBSCRIBE", *self.listeners)]
        conn.transport.write(b"".join(commands))
        return conn

    def _stop_polling(self) -> None:
        if self.gate.poll is not None:
            self.gate.poll.close()
            self.gate.poll = None

    async def _watch(self, conn: _Connection) -> None:
        """Until the connection is lost: a PING every HEARTBEAT seconds, the previous one answered."""
        while True:
            try:
                async with asyncio.timeout(HEARTBEAT):
                    await asyncio.shield(conn.closed)
                return
            except TimeoutError:
                pass
            if self._pong_due:  # no answer to the last PING
                return
            assert conn.transport is not None
            conn.transport.write(encode("PING"))
            self._pong_due = True


def subscription(config: RedisConfig) -> Subscription:
    """This loop's subscription to the Redis `config` points at (made on first use, started by `join`)."""
    per_loop = _subscriptions.setdefault(asyncio.get_running_loop(), {})
    found = per_loop.get(config)
    if found is None:
        found = per_loop[config] = Subscription(config)
    return found


async def close_subscriptions() -> None:
    for found in _subscriptions.pop(asyncio.get_running_loop(), {}).values():
        await found.close()
