"""Bounded TTL caches and single-flight calls.

The provider's caches (`IssuerCaches`) are keyed by hashes (`token_key`, `client_key`), so no token or
secret is kept as a key there. The handler's reuse caches are not: a bearer token is its own key (what
it leads to holds the token anyway, to forward it), other credentials are keyed by a hash
(`credentials.header_key`), a session by its id and version.

A cache hit is one SHA-256 of the credential, one dict lookup and one time comparison. The caches of
a provider are shared by every route using it, so they hold facts (claims, an introspection result, a
token, a refusal) and when they were learnt (`Seen`), never a route's verdict: each route judges them
by its own `leeway`, `cache_ttl` and `cache_ttl_neg` on every lookup. Entries carry their own expiry
(that of the route that stored them, which only bounds memory). A full cache makes room in O(1),
amortised: the expired entries at its old end go, or else its oldest entry; it never scans, so a flood
of inserts costs the same however full it is. A single flight makes concurrent misses for one key wait
on one provider call; that call runs as a task of its own, so a client that disconnects does not
cancel it for the others.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from oidcgate.jwt.verify import Verified
from oidcgate.plugins.openid_connect.errors import OIDCError
from oidcgate.shared_state.held import Held

V = TypeVar("V")

DEFAULT_MAX_ENTRIES = 10000


def token_key(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def client_key(client_id: str, client_secret: str, scope: str, endpoint: str) -> bytes:
    """Key of a client-credentials token: the client, a hash of its secret, the scopes and the endpoint."""
    secret_hash = hashlib.sha256(client_secret.encode()).digest()
    return hashlib.sha256(b"\0".join((client_id.encode(), secret_hash, scope.encode(),
                                      endpoint.encode()))).digest()


class TTLCache(Generic[V]):
    """key → value until an absolute expiry time (seconds, same clock as the `now` passed in).

    Entries are kept in insertion order (an OrderedDict: its oldest entry is found and removed in O(1),
    where a plain dict would step over the slots of the entries removed before it). An expired entry
    goes when it is looked up or when it reaches the old end.
    """

    __slots__ = ("_data", "max_entries")

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._data: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self.max_entries = max_entries

    def get(self, key: Hashable, now: float) -> V | None:
        entry = self.entry(key, now)
        return None if entry is None else entry[1]

    def entry(self, key: Hashable, now: float) -> tuple[float, V] | None:
        """(expires_at, value) while the entry lives."""
        entry = self._data.get(key)
        if entry is None:
            return None
        if now >= entry[0]:
            del self._data[key]
            return None
        return entry

    def held(self, key: Hashable, value: V) -> Callable[[], bool]:
        """A check of whether `key` still maps to `value` itself, whatever its expiry (for a caller bounded
        by it already), cheap enough for every request (see Held)."""
        return Held(self._data, key, value)

    def put(self, key: Hashable, value: V, expires_at: float, now: float) -> None:
        if expires_at <= now:
            return
        self._data.pop(key, None)
        if len(self._data) >= self.max_entries:
            self._evict(now)
        self._data[key] = (expires_at, value)

    def _evict(self, now: float) -> None:
        """Drop the oldest entry and, if it had expired, the expired ones right after it (each entry is
        dropped once, so this is O(1) amortised)."""
        data = self._data
        _, (expires_at, _) = data.popitem(last=False)
        if now < expires_at:
            return
        while data:
            oldest = next(iter(data))
            if now < data[oldest][0]:
                return
            del data[oldest]

    def discard(self, key: Hashable) -> None:
        self._data.pop(key, None)

    def __len__(self) -> int:
        return len(self._data)


class SingleFlight(Generic[V]):
    """At most one running call per key; concurrent callers share its result or its exception."""

    __slots__ = ("_running",)

    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Task[V]] = {}

    async def run(self, key: Hashable, call: Callable[[], Awaitable[V]]) -> V:
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(call())
            self._running[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(task)

    def _forget(self, key: Hashable, task: asyncio.Task[V]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        if not task.cancelled():
            task.exception()  # retrieved, so an unawaited failure is not reported as "never retrieved"

    def __len__(self) -> int:
        return len(self._running)


@dataclass(frozen=True, slots=True)
class Seen(Generic[V]):
    """A fact shared by the routes of a provider, and when it was learnt (same clock as `now`)."""

    value: V
    at: float


@dataclass(frozen=True, slots=True)
class Issued:
    """A client-credentials token, its claims, and when the provider says it ends (None: not said)."""

    token: str
    claims: dict[str, Any]
    ends: float | None


@dataclass
class IssuerCaches:
    """Everything cached for one provider in one worker process (shared by all routes using it)."""

    verified: TTLCache[Seen[Verified]] = field(default_factory=TTLCache)  # JWT hash → its claims and typ
    introspected: TTLCache[Seen[dict[str, Any]]] = field(default_factory=TTLCache)  # token hash → active response
    tokens: TTLCache[Seen[Issued]] = field(default_factory=TTLCache)  # client key → token
    refused: TTLCache[Seen[OIDCError]] = field(default_factory=TTLCache)  # client key → why it was refused
    flights: SingleFlight[Any] = field(default_factory=SingleFlight)
