"""The Redis layer against the machine's Redis: prefixes, TTLs, atomic counters, locks, Redis down."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from oidcgate.shared_state import Keyspace, RedisConfig, RedisUnavailable, close_pools
from oidcgate.shared_state.client import _client
from tests.support.polling import wait_until_async
from tests.support.processes import free_port
from tests.support.redis import DATABASE, Relay, keys_with, redis_prefix

CONFIG = RedisConfig(database=DATABASE)


@pytest.fixture
def prefix() -> Iterator[str]:
    with redis_prefix("shared-state") as prefix:
        yield prefix


@pytest.fixture
async def space(prefix: str) -> AsyncIterator[Keyspace]:
    yield Keyspace(CONFIG, "test", prefix)
    await close_pools()


async def test_keys_carry_the_feature_and_prefix_and_expire(space: Keyspace, prefix: str) -> None:
    await space.set("a", b"value", ttl_ms=200)
    assert await space.get("a") == b"value"
    assert keys_with(prefix) == [f"oidcgate:test:{prefix}a".encode()]
    async def expired() -> bool:
        return await space.get("a") is None

    await wait_until_async(expired, timeout=5, interval=0.05, what="Redis expiring the key")
    await space.set("b", "x", ttl_ms=10_000)
    assert await space.delete("b", "missing") == 1


async def test_counters_are_atomic_and_get_their_ttl_once(space: Keyspace, prefix: str) -> None:
    results = await asyncio.gather(*(space.incr([("minute", 60), ("hour", 3600)]) for _ in range(50)))
    assert sorted(r[0] for r in results) == list(range(1, 51))  # every increment seen exactly once
    assert max(r[1] for r in results) == 50
    ttl = await space.run(lambda r: r.ttl(space.key("minute")))
    assert 0 < ttl <= 60


async def test_lock_is_exclusive_and_only_its_holder_releases_it(space: Keyspace) -> None:
    token = await space.acquire("refresh", ttl_ms=5000)
    assert token is not None
    assert await space.acquire("refresh", ttl_ms=5000) is None
    await space.release("refresh", "not-the-token")  # a stale holder must not free it
    assert await space.acquire("refresh", ttl_ms=5000) is None
    await space.release("refresh", token)
    async with space.lock("refresh", ttl_ms=5000, wait=0.5) as held:
        assert held
        async with space.lock("refresh", ttl_ms=5000, wait=0.2) as second:
            assert not second  # waited, bounded, then gave up
    assert await space.get("refresh") is None


async def test_one_pool_per_worker_and_address(space: Keyspace, prefix: str) -> None:
    other_feature = Keyspace(CONFIG, "other", prefix)
    await space.get("x"), await other_feature.get("x")
    assert _client(space.config) is _client(other_feature.config)
    assert _client(RedisConfig(database=DATABASE, port=6380)) is not _client(CONFIG)


async def test_redis_down_is_one_clear_error_without_the_password() -> None:
    down = Keyspace(RedisConfig(port=free_port(), password="s3cret-pw", connect_timeout=500), "test")
    started = time.monotonic()
    with pytest.raises(RedisUnavailable) as info:
        await down.get("k")
    assert time.monotonic() - started < 2
    assert "127.0.0.1:" in str(info.value) and "s3cret-pw" not in str(info.value)
    await close_pools()


async def test_a_redis_that_never_answers_is_bounded_by_the_timeouts() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts (the kernel does) but never answers a byte
        port = silent.getsockname()[1]
        mute = Keyspace(RedisConfig(port=port, connect_timeout=200, send_timeout=200, read_timeout=200), "test")
        started = time.monotonic()
        with pytest.raises(RedisUnavailable, match="unavailable"):
            await mute.get("k")
        assert time.monotonic() - started < 1.5
    await close_pools()


def test_config_refuses_what_is_not_built() -> None:
    with pytest.raises(ValueError, match="sentinel_master"):
        RedisConfig.model_validate({"sentinel_master": "mymaster"})
    with pytest.raises(ValueError, match="port"):
        RedisConfig.model_validate({"port": 70000})


async def test_a_lock_whose_release_fails_expires_and_the_block_stands(prefix: str) -> None:
    direct = Keyspace(CONFIG, "test", prefix)
    async with Relay() as relay:
        via = Keyspace(RedisConfig(port=relay.port, database=DATABASE, connect_timeout=500, send_timeout=500,
                                   read_timeout=500), "test", prefix)
        async with via.lock("cut", ttl_ms=600, wait=0.2) as held:
            assert held
            await relay.cut()  # Redis goes away before the release
        assert await direct.get("cut") is not None  # not released...
        deadline = time.monotonic() + 5
        while await direct.get("cut") is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert await direct.get("cut") is None  # ... it expired
        with pytest.raises(RedisUnavailable):  # taking it, though, is an error
            async with via.lock("cut", ttl_ms=600, wait=0.2):
                pass
    await close_pools()
