"""Where sessions live: in the cookie itself, or in Redis with an opaque id in the cookie.

Both seal what they write (see codec): the cookie storage seals the whole session into the cookie;
the Redis storage seals the session's id into the cookie and the session itself into Redis, so
neither the browser nor a Redis dump shows a token.

Each worker keeps copies of the sessions it loaded, so a repeat request costs dict probes
(`cached`), for as long as the plugin's `keep_until` allows (until the idle clock wants renewing, the
access token refreshing, or the session ends):
- cookie storage: keyed by the cookie value, which stands for the same session forever; a value
  whose session was renewed here (idle clock, refresh) maps to the renewed one, so a browser still
  sending the old cookie is not renewed again (and its refresh token not used twice);
- Redis storage: keyed by session id, in a `NearCache`: every change (renewal, refresh, logout) is
  announced in the same round trip as the write, before the request that made it is answered, and
  drops every worker's copy on every data plane; no copy is used while the worker's subscription is
  down, nor for more than 2 s after it was read.

|                       | cookie                                   | redis                                   |
|-----------------------|------------------------------------------|-----------------------------------------|
| shared by             | whoever has the secret                   | every worker and node using that Redis  |
| logout                | this browser's cookie is removed; a copy | the record is deleted: every copy of the |
|                       | stays valid until its timeouts end it    | cookie is refused, everywhere, at once  |
| refresh lock          | per worker                               | across workers and nodes (Redis lock)   |
| Redis down            | n/a                                      | 503, never a request let through        |
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from oidcgate.plugins.openid_connect.cache import TTLCache
from oidcgate.plugins.openid_connect.session.codec import Sealer
from oidcgate.plugins.openid_connect.session.config import SessionRedis
from oidcgate.plugins.openid_connect.session.record import Session
from oidcgate.shared_state import Keyspace, NearCache, RedisConfig

REFRESH_LOCK_MS = 30_000  # longer than any token request (bounded by `timeout`)
KeepUntil = Callable[[Session], float]


def never(session: Session) -> float:
    return 0.0


class KeyedLocks:
    """One asyncio.Lock per key, kept only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable, wait: float) -> AsyncIterator[bool]:
        """Hold `key`'s lock for the block; yields whether it was taken within `wait` seconds."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            try:
                async with asyncio.timeout(wait):
                    await lock.acquire()
            except TimeoutError:
                yield False
                return
            try:
                yield True
            finally:
                lock.release()
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class Storage(ABC):
    """Load, save and destroy sessions; the cookie carries what `save` returns."""

    def __init__(self, secret: str, cookie_name: str, keep_until: KeepUntil = never) -> None:
        self.record = Sealer(secret, "session", cookie_name)
        self.keep_until = keep_until  # until when a worker's copy of a session may answer (0: not ours)
        self.locks = KeyedLocks()

    @abstractmethod
    def cached(self, value: str, now: float) -> Session | None:
        """This worker's copy of the session a cookie value stands for, when it may answer without I/O."""

    @abstractmethod
    def still_cached(self, value: str, session: Session, clock: Callable[[], float]) -> Callable[[], bool]:
        """A check, cheap enough for every request, of `cached(value, clock()) is session` while `session`'s
        `keep_until` has not passed (the caller stops asking then)."""

    @abstractmethod
    async def load(self, value: str, now: float, fresh: bool = False) -> Session | None:
        """The session a cookie value stands for, or None (not ours, tampered, destroyed, expired in Redis);
        `fresh`: not this worker's copy (under the refresh lock, another node may just have changed it)."""

    @abstractmethod
    async def save(self, session: Session, ttl: float, now: float, replacing: str | None = None) -> str:
        """Store `session` for `ttl` seconds; the cookie value that stands for it. `replacing`: the cookie
        value of the session it renews (so copies of the old one are dropped, or lead to the new one)."""

    @abstractmethod
    async def destroy(self, session: Session, value: str | None) -> None:
        """End `session` (`value`: the cookie that named it, if known)."""

    def refresh_lock(self, session: Session, wait: float) -> AbstractAsyncContextManager[bool]:
        """Held while one refresh of `session` runs; yields whether it was taken within `wait` seconds."""
        return self.locks.hold(session.id, wait)

    def _open(self, sealed: str) -> Session | None:
        data = self.record.open(sealed)
        return None if data is None else Session.from_bytes(data)


class CookieStorage(Storage):
    """The session sealed in the cookie; the refresh lock is this worker's (see the module doc)."""

    def __init__(self, secret: str, cookie_name: str, keep_until: KeepUntil = never) -> None:
        super().__init__(secret, cookie_name, keep_until)
        self.opened: TTLCache[Session] = TTLCache()  # cookie value → its session, or the one that renewed it

    def cached(self, value: str, now: float) -> Session | None:
        return self.opened.get(value, now)

    def still_cached(self, value: str, session: Session, clock: Callable[[], float]) -> Callable[[], bool]:
        return self.opened.held(value, session)  # (its expiry is keep_until's)

    async def load(self, value: str, now: float, fresh: bool = False) -> Session | None:
        session = self.opened.get(value, now)
        if session is None:
            session = self._open(value)
            if session is not None:
                self.opened.put(value, session, self.keep_until(session), now)
        return session

    async def save(self, session: Session, ttl: float, now: float, replacing: str | None = None) -> str:
        value = self.record.seal(session.to_bytes())
        until = self.keep_until(session)
        for known in (value, replacing):
            if known is not None:
                self.opened.put(known, session, until, now)
        return value

    async def destroy(self, session: Session, value: str | None) -> None:
        if value is not None:
            self.opened.discard(value)


class RedisStorage(Storage):
    """Sessions under `oidcgate:sessions:<redis.prefix>`, each with a TTL equal to its remaining lifetime."""

    def __init__(self, secret: str, cookie_name: str, redis: SessionRedis, keep_until: KeepUntil = never) -> None:
        super().__init__(secret, cookie_name, keep_until)
        self.ids = Sealer(secret, "session-id", cookie_name)
        self.keys = Keyspace(RedisConfig(**redis.model_dump(exclude={"prefix"})), "sessions", redis.prefix or "")
        self.copies: NearCache[Session] = NearCache(self.keys)  # session id → session
        self.opened_ids: TTLCache[str] = TTLCache()  # cookie value → session id

    def cached(self, value: str, now: float) -> Session | None:
        session_id = self.opened_ids.get(value, now)
        return None if session_id is None else self.copies.get(session_id, now)

    def still_cached(self, value: str, session: Session, clock: Callable[[], float]) -> Callable[[], bool]:
        return self.copies.held(session.id, session, clock)  # (the value seals its id)

    async def load(self, value: str, now: float, fresh: bool = False) -> Session | None:
        session_id = self.opened_ids.get(value, now)
        if session_id is None:
            opened = self.ids.open(value)
            if opened is None:
                return None
            session_id = opened.decode()
        if not fresh and (copy := self.copies.get(session_id, now)) is not None:
            return copy
        ticket = self.copies.ticket()
        sealed = await self.keys.get(session_id)
        session = None if sealed is None else self._open(sealed.decode("ascii", "replace"))
        if session is None or session.id != session_id:
            return None
        until = self.keep_until(session)
        self.copies.put(session_id, session, until, now, ticket)
        self.opened_ids.put(value, session_id, until, now)
        return session

    async def save(self, session: Session, ttl: float, now: float, replacing: str | None = None) -> str:
        self.copies.discard(session.id)
        await self.keys.set(session.id, self.record.seal(session.to_bytes()), int(ttl * 1000),
                            announce=replacing is not None)
        return self.ids.seal(session.id.encode())

    async def destroy(self, session: Session, value: str | None) -> None:
        self.copies.discard(session.id)
        await self.keys.delete(session.id, announce=True)

    @asynccontextmanager
    async def refresh_lock(self, session: Session, wait: float) -> AsyncIterator[bool]:
        """This worker's lock first (its other requests wait without polling Redis), then the Redis lock
        that every worker and node takes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        async with self.locks.hold(session.id, wait) as local:
            if not local:
                yield False
                return
            async with self.keys.lock(f"refresh:{session.id}", REFRESH_LOCK_MS,
                                      max(0.0, deadline - loop.time())) as held:
                yield held
