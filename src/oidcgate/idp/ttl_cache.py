"""A small thread-safe in-memory cache whose entries expire after `ttl` seconds (oldest evicted first)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ThreadSafeTtlCache(Generic[K, V]):
    """One TTL for every entry, read on its own clock, under a lock: the provider's worker threads share it.

    The openid-connect plugin's `TTLCache` is the other kind: one event loop, no lock, an expiry per
    entry and the caller's `now` on every call (its hot path reads the clock once per request).
    """

    def __init__(self, ttl: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[K, tuple[V, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[1] <= self._clock():
                del self._entries[key]
                return None
            return entry[0]

    def put(self, key: K, value: V) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            self._entries[key] = (value, self._clock() + self.ttl)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def discard(self, predicate: Callable[[K], bool]) -> None:
        with self._lock:
            for key in [key for key in self._entries if predicate(key)]:
                del self._entries[key]
