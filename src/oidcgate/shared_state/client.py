"""The one way oidcgate talks to Redis: pooled per worker and address, time-bounded, prefixed per feature.

- **Pools.** One `redis.asyncio` client (and so one connection pool) per event loop and per
  address + credentials, made on first use. A worker process runs one loop, so that is one pool per
  worker and Redis address, shared by every plugin instance and kept across configuration reloads.
- **Timeouts.** Every call is bounded by the config's connect, send and read timeouts (socket
  options) and, as a whole, by `asyncio.timeout`, so a Redis that accepts but never answers cannot
  hold a request.
- **Keys.** A `Keyspace` prefixes every key with `oidcgate:<feature>:` (plus a configured prefix),
  so features and tests never collide. Its pub/sub channel is that prefix itself: writes made with
  `announce=True` publish the key's name there in the same transaction, which is what lets workers
  keep copies (`nearcache`). Channels span databases: two keyspaces alike but for the database
  number only see each other's announcements (a few needless invalidations, nothing more).
- **Redis down.** Every failure surfaces as `RedisUnavailable`, one exception for the caller to map
  to a documented answer: sessions and refresh locks fail closed (503), rate limiting follows
  `fault_tolerant`, the cluster token cache falls back to the worker's own cache. Nothing is let
  through because a call failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from oidcgate.shared_state.config import RedisConfig
from oidcgate.shared_state.subscription import close_subscriptions

T = TypeVar("T")

# A failed call is reported at once, not retried: its caller has a request waiting and a documented answer.
_NO_RETRY = Retry(NoBackoff(), 0)

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[RedisConfig, aioredis.Redis]] = (
    weakref.WeakKeyDictionary())

# Deletes the lock only if it still holds our token: a lock that expired and was taken by another
# holder is never released by the late first one.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class RedisUnavailable(Exception):
    """Redis did not answer in time or refused the call; the message names the address, not the secret."""


def _client(config: RedisConfig) -> aioredis.Redis:
    """This loop's client for `config` (one pool per worker and address), created on first use."""
    loop = asyncio.get_running_loop()
    per_loop = _clients.setdefault(loop, {})
    client = per_loop.get(config)
    if client is None:
        client = aioredis.Redis(
            host=config.host, port=config.port, db=config.database, username=config.username,
            password=config.password, ssl=config.ssl, ssl_cert_reqs="required" if config.ssl_verify else "none",
            ssl_check_hostname=config.ssl_verify and config.server_name is not None,
            socket_connect_timeout=config.connect_timeout / 1000,
            socket_timeout=max(config.send_timeout, config.read_timeout) / 1000,
            max_connections=config.keepalive_pool_size, retry=_NO_RETRY)
        per_loop[config] = client
    return client


async def close_pools() -> None:
    """Close this loop's pools and subscriptions (a worker's shutdown, a test's end)."""
    await close_subscriptions()
    loop = asyncio.get_running_loop()
    for client in _clients.pop(loop, {}).values():
        await client.aclose()


class Keyspace:
    """One feature's keys on one Redis: `oidcgate:<feature>:<prefix>` + the caller's key."""

    __slots__ = ("config", "limit", "prefix")

    def __init__(self, config: RedisConfig, feature: str, prefix: str = "") -> None:
        self.config = config
        self.prefix = f"oidcgate:{feature}:{prefix}"
        # The whole call (connect, send, read) never takes longer than the three timeouts together.
        self.limit = (config.connect_timeout + config.send_timeout + config.read_timeout) / 1000

    def key(self, name: str) -> str:
        return self.prefix + name

    @property
    def channel(self) -> str:
        """Where `announce=True` writes publish the names they change."""
        return self.prefix

    async def run(self, call: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        """Run `call` with this worker's client, bounded in time; any failure is RedisUnavailable."""
        if asyncio.current_task() is None:  # driven outside a task (the proxy runs plugin phases eagerly):
            return await asyncio.ensure_future(self.run(call))  # asyncio.timeout needs one
        try:
            async with asyncio.timeout(self.limit):
                return await call(_client(self.config))
        except (RedisError, OSError, TimeoutError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
            raise RedisUnavailable(f"redis {self.config.address()} unavailable: {reason}") from None

    async def get(self, name: str) -> bytes | None:
        value: Any = await self.run(lambda r: r.get(self.key(name)))  # bytes: responses are not decoded
        return value

    async def set(self, name: str, value: bytes | str, ttl_ms: int, *, announce: bool = False) -> None:
        """Store `value` for `ttl_ms` milliseconds (at least 1); `announce`: publish `name` on `channel` in
        the same transaction, so every worker's copy is dropped before this returns (see nearcache)."""
        if not announce:
            await self.run(lambda r: r.set(self.key(name), value, px=max(1, ttl_ms)))
            return
        await self._announcing([name], lambda pipe: pipe.set(self.key(name), value, px=max(1, ttl_ms)))

    async def delete(self, *names: str, announce: bool = False) -> int:
        """Delete `names`; how many existed. `announce`: as for `set`."""
        if not announce:
            return int(await self.run(lambda r: r.delete(*(self.key(n) for n in names))))
        replies = await self._announcing(list(names), lambda pipe: pipe.delete(*(self.key(n) for n in names)))
        return int(replies[0])

    async def _announcing(self, names: list[str], write: Callable[[Any], Any]) -> list[Any]:
        """`write` and one PUBLISH per name, in one MULTI/EXEC round trip; the replies."""
        async def call(r: aioredis.Redis) -> list[Any]:
            pipe = r.pipeline(transaction=True)
            write(pipe)
            for name in names:
                pipe.publish(self.channel, name)
            return list(await pipe.execute())
        return await self.run(call)

    async def incr(self, counters: Sequence[tuple[str, int]], amount: int = 1) -> list[int]:
        """Add `amount` to each counter, giving each its TTL (seconds) when it is new; one round trip.

        For fixed-window counters: the window's key expires with the window, and every node counts in
        the same key, so a limit holds exactly across data planes.
        """
        async def call(r: aioredis.Redis) -> list[Any]:
            pipe = r.pipeline(transaction=True)
            for name, ttl in counters:
                pipe.incrby(self.key(name), amount)
                pipe.expire(self.key(name), ttl, nx=True)
            return list(await pipe.execute())
        replies = await self.run(call)
        return [int(value) for value in replies[::2]]

    async def acquire(self, name: str, ttl_ms: int) -> str | None:
        """Take the lock `name` for `ttl_ms` unless someone holds it: the holder's token, or None."""
        token = secrets.token_hex(16)
        taken = await self.run(lambda r: r.set(self.key(name), token, px=ttl_ms, nx=True))
        return token if taken else None

    async def release(self, name: str, token: str) -> None:
        await self.run(lambda r: r.eval(_RELEASE, 1, self.key(name), token))

    @asynccontextmanager
    async def lock(self, name: str, ttl_ms: int, wait: float, poll: float = 0.05) -> AsyncIterator[bool]:
        """Hold `name` across every worker and node for the block (at most `ttl_ms`); yields whether it
        was taken within `wait` seconds. The caller decides what not getting it means.

        Taking it raises RedisUnavailable; releasing it does not: a lock whose release fails expires after
        `ttl_ms`, and what the block did (or raised) stands."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        token = await self.acquire(name, ttl_ms)
        while token is None and loop.time() < deadline:
            await asyncio.sleep(min(poll, max(0.0, deadline - loop.time())))
            token = await self.acquire(name, ttl_ms)
        try:
            yield token is not None
        finally:
            if token is not None:
                with contextlib.suppress(RedisUnavailable):
                    await self.release(name, token)
