"""The rate-limiting plugin called as the data plane calls it: Kong's headers and 429, fixed windows,
both policies (the machine's Redis for `redis`), Redis down with and without `fault_tolerant`, its schema."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from oidcgate.config.entities import Consumer, ConsumerGroup, Route
from oidcgate.plugins.pdk import ConsumerIndex, Context, PluginEnv, PluginExit, Request
from oidcgate.plugins.rate_limiting.counters import LocalCounters
from oidcgate.plugins.rate_limiting.handler import RateLimitingHandler
from oidcgate.plugins.rate_limiting.windows import window
from oidcgate.shared_state import close_pools
from tests.support.processes import free_port
from tests.support.redis import DATABASE, keys_with, removing_keys_with

ALICE = Consumer(id="a1a1a1a1-0000-4000-8000-000000000001", username="alice")


@pytest.fixture
def route_id() -> Iterator[str]:
    with removing_keys_with(str(uuid.uuid4())) as found:
        yield found


def handler(config: dict[str, Any], env: PluginEnv | None = None) -> RateLimitingHandler:
    return RateLimitingHandler(RateLimitingHandler.validate_config(config), env or PluginEnv(), instance_id="p1")


async def call(plugin: RateLimitingHandler, route_id: str = "0e0e0e0e-0000-4000-8000-00000000000e", consumer: Consumer | None = None,
               ip: str = "127.0.0.1", groups: tuple[ConsumerGroup, ...] | None = None,
               forwarded_ip: str | None = None) -> tuple[int, dict[str, str]]:
    """The status and the headers the client gets (`groups`: set by an authentication plugin;
    `forwarded_ip`: the client's address as a trusted proxy in front (at `ip`) tells it)."""
    request = Request("GET", "/", "", [], scheme="http", host="gw", port=8000, client_ip=ip,
                      forwarded_ip=forwarded_ip)
    ctx = Context(request, Route(id=route_id, paths=["/"]), None, ConsumerIndex([]))
    if consumer is not None:
        ctx.authenticate(consumer, {"id": "cred"})
    ctx.set_consumer_groups(groups)
    try:
        await plugin.access(ctx)
    except PluginExit as exit_:
        return exit_.status, exit_.headers
    return 200, dict(ctx.response_header_items())  # set from the access phase on the response


async def test_kongs_headers_then_429_with_retry_after() -> None:
    plugin = handler({"minute": 2, "hour": 10})
    status, headers = await call(plugin)
    assert status == 200
    assert headers["X-RateLimit-Limit-Minute"] == "2" and headers["X-RateLimit-Remaining-Minute"] == "1"
    assert headers["X-RateLimit-Limit-Hour"] == "10" and headers["X-RateLimit-Remaining-Hour"] == "9"
    assert headers["RateLimit-Limit"] == "2" and headers["RateLimit-Remaining"] == "1"  # the tightest
    assert 1 <= int(headers["RateLimit-Reset"]) <= 60
    assert (await call(plugin))[0] == 200
    status, headers = await call(plugin)
    assert status == 429 and headers["RateLimit-Remaining"] == "0" and 1 <= int(headers["Retry-After"]) <= 60
    assert (await call(plugin))[0] == 429
    assert isinstance(plugin.counters, LocalCounters)
    assert sorted(count for _, _, count in plugin.counters.counts.values()) == [2, 2]  # refused ones do not count


async def test_each_identifier_has_its_own_count_and_messages_are_configurable() -> None:
    plugin = handler({"second": 1, "limit_by": "ip", "error_code": 503, "error_message": "slow down",
                      "hide_client_headers": True})
    assert await call(plugin, ip="10.0.0.1") == (200, {})
    assert (await call(plugin, ip="10.0.0.2"))[0] == 200
    status, headers = await call(plugin, ip="10.0.0.1")
    assert status == 503 and set(headers) == {"Retry-After"}


async def test_clients_behind_a_trusted_proxy_count_apart_by_their_forwarded_address() -> None:
    plugin = handler({"minute": 1, "limit_by": "ip"})
    balancer = "10.9.9.9"
    assert (await call(plugin, ip=balancer, forwarded_ip="203.0.113.1"))[0] == 200
    assert (await call(plugin, ip=balancer, forwarded_ip="203.0.113.2"))[0] == 200  # another client, its own count
    assert (await call(plugin, ip=balancer, forwarded_ip="203.0.113.1"))[0] == 429
    assert (await call(plugin, ip=balancer))[0] == 200  # the balancer itself: a third count


async def test_consumer_falls_back_to_the_ip() -> None:
    plugin = handler({"minute": 1})
    assert (await call(plugin, consumer=ALICE))[0] == 200
    assert (await call(plugin))[0] == 200  # no consumer: counted by IP
    assert (await call(plugin, consumer=ALICE))[0] == 429


async def test_consumer_groups_set_by_a_token_share_one_count() -> None:
    plugin = handler({"minute": 2, "limit_by": "consumer-group"})
    gold = (ConsumerGroup(id="c3c3c3c3-0000-4000-8000-000000000003", name="gold"),)
    assert (await call(plugin, ip="10.0.0.1", groups=gold))[0] == 200
    assert (await call(plugin, ip="10.0.0.2", groups=gold))[0] == 200
    assert (await call(plugin, ip="10.0.0.3", groups=gold))[0] == 429  # one count for the group, whoever calls
    assert (await call(plugin, ip="10.0.0.3"))[0] == 200  # no group: counted by IP


def test_windows_are_aligned_to_their_period() -> None:
    assert window("minute", 1_700_000_099) == (1_700_000_040, 1_700_000_100)
    assert window("month", 1_709_251_199) == (1_706_745_600, 1_709_251_200)  # February 2024 (leap year)
    assert window("year", 1_704_067_200) == (1_704_067_200, 1_735_689_600)


def test_local_counters_are_bounded() -> None:
    counters = LocalCounters(max_counters=3)
    for i in range(10):
        counters.add([(f"k{i}", 0, 60)], now=30)
    assert len(counters.counts) == 3 and set(counters.counts) == {"k7", "k8", "k9"}
    counters.add([("new", 60, 120)], now=61)  # past windows go first
    assert set(counters.counts) == {"new"}


async def test_redis_counts_once_for_every_instance_and_worker(route_id: str) -> None:
    config = {"minute": 5, "policy": "redis", "redis": {"database": DATABASE}}
    one, two = handler(config), handler(config)  # two data planes
    results = await asyncio.gather(*(call(plugin, route_id) for plugin in (one, two) * 6))
    assert sorted(status for status, _ in results) == [200] * 5 + [429] * 7
    assert keys_with(route_id) and all(key.startswith(b"oidcgate:rate-limiting:") for key in keys_with(route_id))
    await close_pools()


async def test_redis_down(caplog: pytest.LogCaptureFixture) -> None:
    down = {"host": "127.0.0.1", "port": free_port(), "password": "s3cret-pw", "connect_timeout": 200}
    tolerant = handler({"minute": 1, "policy": "redis", "redis": down})
    strict = handler({"minute": 1, "policy": "redis", "redis": down, "fault_tolerant": False})
    with caplog.at_level(logging.ERROR):
        assert await call(tolerant) == (200, {})  # let through, without headers
        assert await call(strict) == (500, {})
        assert (await call(tolerant))[0] == 200
    assert "unavailable" in caplog.text and "s3cret-pw" not in caplog.text
    assert caplog.text.count("unavailable") == 2  # once per instance, not once per request
    await close_pools()


@pytest.mark.parametrize(("config", "message"), [
    ({}, "at least one of these fields must be non-empty: 'second', 'minute'"),
    ({"minute": 10, "hour": 5}, r"the limit for hour \(5\) cannot be lower than the limit for minute \(10\)"),
    ({"minute": 0}, "greater than 0"),
    ({"minute": 1, "policy": "cluster"}, "policy 'cluster' is not available"),
    ({"minute": 1, "limit_by": "header"}, "header_name: required field missing"),
    ({"minute": 1, "limit_by": "path"}, "path: required field missing"),
    ({"minute": 1, "limit_by": "header", "header_name": "Bad Name"}, "not a valid HTTP header name"),
    ({"minute": 1, "redis": {"host": "127.0.0.1", "sentinel_master": "m"}}, "Extra inputs are not permitted"),
    ({"minute": 1, "sync_rate": 10}, "only -1 is available"),
])
def test_schema_errors(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RateLimitingHandler.validate_config(config)
