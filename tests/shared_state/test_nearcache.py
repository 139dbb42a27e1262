"""Worker copies of Redis keys against the machine's Redis: announced writes drop them before the writer
returns, a lost subscription drops them and stops caching until it is back, a read that raced a change
is not kept, and nothing is used past the staleness bound."""

from __future__ import annotations

import asyncio
import select
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from oidcgate.shared_state import Keyspace, NearCache, RedisConfig, close_pools
from oidcgate.shared_state.subscription import encode, parse, subscription
from tests.support.polling import wait_until_async
from tests.support.processes import free_port
from tests.support.redis import DATABASE, kill_subscriptions, publish, redis_prefix

CONFIG = RedisConfig(database=DATABASE)
NOW = 1000.0


@pytest.fixture
def prefix() -> Iterator[str]:
    with redis_prefix("nearcache") as prefix:
        yield prefix


@pytest.fixture
async def space(prefix: str) -> AsyncIterator[Keyspace]:
    yield Keyspace(CONFIG, "test", prefix)
    await close_pools()


async def live_cache(space: Keyspace) -> NearCache[str]:
    cache: NearCache[str] = NearCache(space)
    cache.ticket()  # (starts the subscription)
    await wait_until_async(lambda: cache.live)
    return cache


async def cached(cache: NearCache[str], name: str, value: str) -> None:
    cache.put(name, value, NOW + 60, NOW, cache.ticket())
    assert cache.get(name, NOW) == value


@pytest.mark.parametrize("write", [
    lambda space: space.set("k", "v2", 10_000, announce=True),
    lambda space: space.delete("k", announce=True),
], ids=["set", "delete"])
async def test_an_announced_write_drops_every_copy_before_it_returns(
        space: Keyspace, prefix: str, write: Callable[[Keyspace], Awaitable[object]]) -> None:
    mine, another = await live_cache(space), await live_cache(space)
    for cache in (mine, another):
        await cached(cache, "k", "v1")
    await write(Keyspace(CONFIG, "test", prefix))  # (another writer, on the same pool here)
    assert mine.get("k", NOW) is None and another.get("k", NOW) is None  # no wait in between


async def test_no_copy_is_used_while_a_message_waits_unread(space: Keyspace) -> None:
    """The data plane may handle a request before the loop reads the subscription's socket (both ready at
    once): the bytes waiting there are enough to stop copies from answering."""
    cache = await live_cache(space)
    await cached(cache, "k", "v1")
    assert publish(space.channel, "k") == 1  # another node's write, announced (this loop does not run here)
    conn = subscription(CONFIG)._conn
    assert conn is not None and conn.transport is not None
    readable, _, _ = select.select([conn.transport.get_extra_info("socket").fileno()], [], [], 5)
    assert readable and cache.get("k", NOW) is None  # unread yet, and already refused
    await wait_until_async(lambda: cache.get("k", NOW) is None and subscription(CONFIG).answering(space.channel))


async def test_held_answers_what_get_answers(space: Keyspace) -> None:
    """The per-request check of a copy someone holds (a recorded session decision) agrees with `get`."""
    assert not NearCache(space).held("k", "v1", lambda: NOW)()  # no subscription yet: nothing holds
    cache = await live_cache(space)
    value = "v1"
    cache.put("k", value, NOW + 60, NOW, cache.ticket())
    for now in (NOW, NOW + cache.max_stale - 0.01, NOW + cache.max_stale):
        assert cache.held("k", value, lambda now=now: now)() == (cache.get("k", now) is value)
    cache.put("k", value, NOW + 60, NOW, cache.ticket())
    held = cache.held("k", value, lambda: NOW)
    assert held() and not cache.held("k", "v1 but another", lambda: NOW)()
    assert publish(space.channel, "k") == 1  # a change announced elsewhere, not read yet
    conn = subscription(CONFIG)._conn
    assert conn is not None and conn.transport is not None
    select.select([conn.transport.get_extra_info("socket").fileno()], [], [], 5)
    assert not held() and cache.get("k", NOW) is None


async def test_a_plain_write_is_not_announced(space: Keyspace) -> None:
    cache = await live_cache(space)
    await cached(cache, "k", "v1")
    await space.set("k", "v2", 10_000)
    await space.get("k")  # a round trip: a message, had there been one, would be here by now
    await wait_until_async(lambda: cache.get("k", NOW) is not None)


async def test_a_read_that_raced_a_change_is_not_kept(space: Keyspace) -> None:
    cache = await live_cache(space)
    ticket = cache.ticket()
    await space.delete("k", announce=True)
    await wait_until_async(lambda: cache.ticket() != ticket)  # the message was read
    cache.put("k", "read before the change", NOW + 60, NOW, ticket)
    assert cache.get("k", NOW) is None


async def test_no_copy_outlives_the_staleness_bound(space: Keyspace) -> None:
    cache = await live_cache(space)
    await cached(cache, "k", "v")
    assert cache.get("k", NOW + cache.max_stale - 0.01) == "v"
    assert cache.get("k", NOW + cache.max_stale) is None


async def test_a_killed_subscription_drops_copies_and_caching_waits_for_the_reconnection(space: Keyspace) -> None:
    cache = await live_cache(space)
    await cached(cache, "k", "v")
    ticket = cache.ticket()  # a read that starts before the loss
    gate = subscription(space.config).gate
    polled = gate.poll
    assert kill_subscriptions() == 1
    await wait_until_async(lambda: not cache.live)
    assert cache.get("k", NOW) is None and cache.ticket() is None
    assert gate.poll is None and polled.closed  # (no descriptor left behind per reconnection)
    await wait_until_async(lambda: cache.live)  # reconnected by itself
    assert gate.poll is not None and not gate.poll.closed
    cache.put("k", "read across the loss", NOW + 60, NOW, ticket)
    assert cache.get("k", NOW) is None  # nothing from before the loss, nothing read across it
    await cached(cache, "k", "v")


async def test_one_subscription_per_worker_and_address(space: Keyspace, prefix: str) -> None:
    first: NearCache[str] = NearCache(space)
    assert first.ticket() is None  # not live before Redis confirms the channel: nothing may be kept yet
    await wait_until_async(lambda: first.live)
    second = await live_cache(Keyspace(CONFIG, "other", prefix))
    assert first.live and second.live
    assert subscription(CONFIG) is subscription(space.config)
    assert kill_subscriptions() == 1


async def test_redis_down_means_no_caching_and_close_stops_the_retries() -> None:
    down = Keyspace(RedisConfig(port=free_port(), connect_timeout=200), "test")
    cache: NearCache[str] = NearCache(down)
    for _ in range(3):
        assert cache.ticket() is None
        await asyncio.sleep(0)
    retrying = subscription(down.config)._task
    assert retrying is not None and not retrying.done()
    await close_pools()
    assert retrying.done()


async def test_a_refused_subscription_is_never_live_and_its_password_never_logged(
        prefix: str, caplog: pytest.LogCaptureFixture) -> None:
    wrong = RedisConfig(database=DATABASE, password="wrong-s3cret")  # the test Redis has no password
    cache: NearCache[str] = NearCache(Keyspace(wrong, "test", prefix))
    cache.ticket()
    await wait_until_async(lambda: "subscription refused" in caplog.text)
    assert not cache.live and cache.ticket() is None
    assert "wrong-s3cret" not in caplog.text
    await close_pools()


def test_resp_frames_come_whole_or_not_at_all() -> None:
    message = b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\nabc\r\n"
    assert parse(message, 0) == ([b"message", b"ch", b"abc"], len(message))
    for cut in range(len(message)):
        assert parse(message[:cut], 0) is None, cut
    assert parse(b"+OK\r\n:3\r\n", 5) == (3, 9)
    assert str(parse(b"-WRONGPASS no\r\n", 0)[0]) == "WRONGPASS no"  # type: ignore[index]
    assert encode("SUBSCRIBE", "é") == b"*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\n\xc3\xa9\r\n"
    with pytest.raises(ValueError):
        parse(b"?what\r\n", 0)
