"""Where sessions live: in the cookie itself, or in Redis with an opaque id in the cookie.

Both seal what they write (see codec): the cookie storage seals the whole session into the cookie;
the Redis storage seals the session's id into the cookie and the session itself into Redis, so
neither the browser nor a Redis dump shows a token. Opening a cookie is cached per worker by its
value (bounded, until the session would end anyway), so a repeat request costs a dict probe.

|                       | cookie                                   | redis                                   |
|-----------------------|------------------------------------------|-----------------------------------------|
| shared by             | whoever has the secret                   | every worker and node using that Redis  |
| logout                | this browser's cookie is removed; a copy | the record is deleted: every copy of the |
|                       | stays valid until its timeouts end it    | cookie is refused, everywhere, at once  |
| refresh lock          | per worker                               | across workers and nodes (Redis lock)   |
| Redis down            | n/a                                      | 503, never a request let through        |
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from oidcgate.plugins.openid_connect.cache import SingleFlight, TTLCache
from oidcgate.plugins.openid_connect.session.codec import Sealer
from oidcgate.plugins.openid_connect.session.config import SessionRedis
from oidcgate.plugins.openid_connect.session.record import Session
from oidcgate.shared_state import Keyspace, RedisConfig

REFRESH_LOCK_MS = 30_000  # longer than any token request (bounded by `timeout`)


class Storage(ABC):
    """Load, save and destroy sessions; the cookie carries what `save` returns."""

    def __init__(self, secret: str, cookie_name: str) -> None:
        self.record = Sealer(secret, "session", cookie_name)
        self.opened: TTLCache[Session] = TTLCache()  # cookie value → its session (this worker)

    @abstractmethod
    async def load(self, value: str, now: float) -> Session | None:
        """The session a cookie value stands for, or None (not ours, tampered, destroyed, expired in Redis)."""

    @abstractmethod
    async def save(self, session: Session, ttl: float) -> str:
        """Store `session` for `ttl` seconds; the cookie value that stands for it."""

    @abstractmethod
    async def destroy(self, session: Session, value: str | None) -> None:
        """End `session` (`value`: the cookie that named it, if known)."""

    @abstractmethod
    def refresh_lock(self, session: Session, wait: float) -> AbstractAsyncContextManager[bool]:
        """Held while one refresh of `session` runs; yields whether it was taken within `wait` seconds."""

    def _open(self, sealed: str) -> Session | None:
        data = self.record.open(sealed)
        return None if data is None else Session.from_bytes(data)


class CookieStorage(Storage):
    def __init__(self, secret: str, cookie_name: str) -> None:
        super().__init__(secret, cookie_name)
        self.flights: SingleFlight[bool] = SingleFlight()

    async def load(self, value: str, now: float) -> Session | None:
        return self.load_cached(value, now) or self._open(value)

    def load_cached(self, value: str, now: float) -> Session | None:
        return self.opened.get(value, now)

    def remember(self, value: str, session: Session, until: float, now: float) -> None:
        self.opened.put(value, session, until, now)

    async def save(self, session: Session, ttl: float) -> str:
        return self.record.seal(session.to_bytes())

    async def destroy(self, session: Session, value: str | None) -> None:
        if value is not None:
            self.opened.discard(value)

    @asynccontextmanager
    async def refresh_lock(self, session: Session, wait: float) -> AsyncIterator[bool]:
        yield True  # (concurrent refreshes of one session in this worker share one call: see browser.py)


class RedisStorage(Storage):
    """Sessions under `oidcgate:sessions:<redis.prefix>`, each with a TTL equal to its remaining lifetime."""

    def __init__(self, secret: str, cookie_name: str, redis: SessionRedis) -> None:
        super().__init__(secret, cookie_name)
        self.ids = Sealer(secret, "session-id", cookie_name)
        self.keys = Keyspace(RedisConfig(**redis.model_dump(exclude={"prefix"})), "sessions", redis.prefix or "")

    async def load(self, value: str, now: float) -> Session | None:
        session_id = self.ids.open(value)
        if session_id is None:
            return None
        sealed = await self.keys.get(session_id.decode())
        return None if sealed is None else self._open(sealed.decode("ascii", "replace"))

    async def save(self, session: Session, ttl: float) -> str:
        await self.keys.set(session.id, self.record.seal(session.to_bytes()), int(ttl * 1000))
        return self.ids.seal(session.id.encode())

    async def destroy(self, session: Session, value: str | None) -> None:
        await self.keys.delete(session.id)

    def refresh_lock(self, session: Session, wait: float) -> AbstractAsyncContextManager[bool]:
        return self.keys.lock(f"refresh:{session.id}", REFRESH_LOCK_MS, wait)
