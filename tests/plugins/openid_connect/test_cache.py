"""TTL caches (expiry, bound) and single flights (one call for concurrent misses, shared failures)."""

from __future__ import annotations

import asyncio

import pytest

from oidcgate.plugins.openid_connect.cache import SingleFlight, TTLCache, client_key, token_key


def test_entries_expire_at_their_own_time() -> None:
    cache: TTLCache[str] = TTLCache()
    cache.put("a", "A", expires_at=110, now=100)
    cache.put("b", "B", expires_at=200, now=100)
    cache.put("gone", "G", expires_at=100, now=100)  # already expired: not stored
    assert cache.get("a", 109.9) == "A"
    assert cache.get("a", 110) is None
    assert cache.get("b", 150) == "B" and cache.get("gone", 100) is None
    assert len(cache) == 1


def test_held_says_whether_a_key_still_maps_to_that_very_value() -> None:
    cache: TTLCache[list[str]] = TTLCache()
    value = ["session"]
    cache.put("cookie", value, expires_at=110, now=100)
    held = cache.held("cookie", value)
    assert held() and not cache.held("cookie", ["session"])()  # identity, not equality
    cache.put("cookie", ["renewed"], expires_at=120, now=101)
    assert not held()
    cache.put("cookie", value, expires_at=120, now=102)
    assert held()  # the same value again
    cache.discard("cookie")
    assert not held() and not cache.held("other", value)()


def test_a_full_cache_drops_expired_then_oldest() -> None:
    cache: TTLCache[int] = TTLCache(max_entries=3)
    cache.put("old", 1, expires_at=105, now=100)
    cache.put("b", 2, expires_at=500, now=100)
    cache.put("c", 3, expires_at=500, now=100)
    cache.put("d", 4, expires_at=500, now=200)  # "old" has expired: it makes room
    assert [cache.get(k, 200) for k in ("b", "c", "d")] == [2, 3, 4]
    cache.put("e", 5, expires_at=500, now=200)  # nothing expired: the oldest ("b") goes
    assert cache.get("b", 200) is None and cache.get("e", 200) == 5 and len(cache) == 3


def test_keys_are_hashes_and_separate_what_they_should() -> None:
    assert len(token_key("abc")) == 32 and token_key("abc") != token_key("abd")
    base = client_key("id", "secret", "a b", "https://idp/token")
    assert b"secret" not in base
    assert base != client_key("id", "secret2", "a b", "https://idp/token")
    assert base != client_key("id", "secret", "a", "https://idp/token")
    assert base != client_key("id", "secret", "a b", "https://other/token")
    assert client_key("a", "b\0c", "", "") != client_key("a\0b", "c", "", "")


class CountingNow(float):
    """A time that counts how often it is compared: a scan of the cache would compare it with every entry.
    (Python asks a float subclass first, so `exp <= now` counts as well as `now >= exp`.)"""

    comparisons = 0

    def __lt__(self, other: float) -> bool:
        CountingNow.comparisons += 1
        return float(self) < other

    def __le__(self, other: float) -> bool:
        CountingNow.comparisons += 1
        return float(self) <= other

    def __gt__(self, other: float) -> bool:
        CountingNow.comparisons += 1
        return float(self) > other

    def __ge__(self, other: float) -> bool:
        CountingNow.comparisons += 1
        return float(self) >= other


def test_inserting_into_a_full_cache_does_not_scan_it() -> None:
    size = 2000
    cache: TTLCache[int] = TTLCache(max_entries=size)
    for index in range(size):
        cache.put(index, index, expires_at=10_000, now=100)
    CountingNow.comparisons = 0
    for index in range(size, size + 500):
        cache.put(index, index, expires_at=10_000, now=CountingNow(200))
    assert CountingNow.comparisons <= 3 * 500  # a few per insert, not one per entry
    assert len(cache) == size and cache.get(0, 200) is None and cache.get(size + 499, 200) == size + 499


def test_a_full_cache_drops_every_expired_entry_at_the_old_end_at_once() -> None:
    cache: TTLCache[str] = TTLCache(max_entries=4)
    for key, expires_at in (("a", 150), ("b", 150), ("c", 500), ("d", 500)):
        cache.put(key, key, expires_at=expires_at, now=100)
    cache.put("e", "e", expires_at=500, now=200)  # "a" and "b" have expired: both go, "c" stays
    assert len(cache) == 3 and [cache.get(k, 200) for k in "cde"] == ["c", "d", "e"]
    cache.put("f", "f", expires_at=500, now=200)  # room: nothing dropped
    cache.put("g", "g", expires_at=500, now=200)  # full and nothing expired: the oldest ("c") goes
    assert cache.get("c", 200) is None and [cache.get(k, 200) for k in "defg"] == ["d", "e", "f", "g"]


async def test_concurrent_calls_share_one_flight() -> None:
    flight: SingleFlight[int] = SingleFlight()
    calls = 0
    started, release = asyncio.Event(), asyncio.Event()

    async def call() -> int:
        nonlocal calls
        calls += 1
        started.set()
        await release.wait()
        return 7

    waiters = [asyncio.create_task(flight.run("k", call)) for _ in range(20)]
    await started.wait()  # the flight runs: every waiter, scheduled before it, has joined it
    release.set()
    assert await asyncio.gather(*waiters) == [7] * 20
    assert calls == 1 and len(flight) == 0
    assert await flight.run("k", call) == 7 and calls == 2  # finished flights are not cached


async def test_a_failure_reaches_every_waiter_and_is_not_kept() -> None:
    flight: SingleFlight[int] = SingleFlight()
    started, release = asyncio.Event(), asyncio.Event()

    async def fail() -> int:
        started.set()
        await release.wait()
        raise RuntimeError("provider down")

    waiters = [asyncio.create_task(flight.run("k", fail)) for _ in range(5)]
    await started.wait()
    release.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results) and len(flight) == 0


async def test_a_cancelled_waiter_does_not_cancel_the_flight() -> None:
    flight: SingleFlight[str] = SingleFlight()
    started, release = asyncio.Event(), asyncio.Event()

    async def slow() -> str:
        started.set()
        await release.wait()
        return "done"

    first = asyncio.create_task(flight.run("k", slow))
    second = asyncio.create_task(flight.run("k", slow))
    await started.wait()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    release.set()
    assert await second == "done"
