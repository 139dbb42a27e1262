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


async def test_concurrent_calls_share_one_flight() -> None:
    flight: SingleFlight[int] = SingleFlight()
    calls = 0
    release = asyncio.Event()

    async def call() -> int:
        nonlocal calls
        calls += 1
        await release.wait()
        return 7

    waiters = [asyncio.create_task(flight.run("k", call)) for _ in range(20)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiters) == [7] * 20
    assert calls == 1 and len(flight) == 0
    assert await flight.run("k", call) == 7 and calls == 2  # finished flights are not cached


async def test_a_failure_reaches_every_waiter_and_is_not_kept() -> None:
    flight: SingleFlight[int] = SingleFlight()

    async def fail() -> int:
        await asyncio.sleep(0.01)
        raise RuntimeError("provider down")

    results = await asyncio.gather(*(flight.run("k", fail) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results) and len(flight) == 0


async def test_a_cancelled_waiter_does_not_cancel_the_flight() -> None:
    flight: SingleFlight[str] = SingleFlight()

    async def slow() -> str:
        await asyncio.sleep(0.05)
        return "done"

    first = asyncio.create_task(flight.run("k", slow))
    second = asyncio.create_task(flight.run("k", slow))
    await asyncio.sleep(0.01)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await second == "done"
