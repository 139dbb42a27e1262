"""Each worker's copies of sessions, at handler level: a Redis session answered without a Redis round trip
while the worker's subscription is live (never past 2 s), a logout on one worker refusing the cookie on
another at once, a lost subscription stopping the copies until it is back; cookie sessions renewed at
most once per touch interval, even for a browser that keeps sending the old cookie."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from oidcgate.plugins.openid_connect.session.storage import RedisStorage
from oidcgate.shared_state.subscription import subscription
from tests.plugins.openid_connect.harness import Gateway, Result
from tests.plugins.openid_connect.providers import MockProvider
from tests.plugins.openid_connect.signin import Jar, config, location, sign_in, visit
from tests.support.clock import Clock
from tests.support.polling import wait_until_async
from tests.support.redis import DATABASE, delete, keys_with, kill_subscriptions, redis_prefix


@pytest.fixture
def prefix() -> Iterator[str]:
    with redis_prefix("session-cache") as prefix:
        yield prefix


def redis_route(mock: MockProvider, prefix: str, **changes: Any) -> dict[str, Any]:
    return config(mock, session_storage="redis", redis={"database": DATABASE, "prefix": prefix},
                  logout_query_arg="logout", logout_methods=["GET"], **changes)


def storage(gw: Gateway) -> RedisStorage:
    assert gw.handler.browser is not None and isinstance(gw.handler.browser.storage, RedisStorage)
    return gw.handler.browser.storage


async def copied(gw: Gateway, jar: Jar) -> None:
    """Once the worker's subscription is live, a request leaves a copy of the session in the worker."""
    await wait_until_async(lambda: storage(gw).copies.live)
    assert (await visit(gw, jar)).status == 200


def session_keys(prefix: str) -> list[bytes]:
    return [key for key in keys_with(prefix) if b"refresh:" not in key]


def set_cookie(result: Result) -> bool:
    return any(name.lower() == "set-cookie" for name, _ in result.ctx.response_header_items())


async def test_a_redis_session_is_answered_from_the_workers_copy_for_at_most_2_s(
        gateway: Callable[..., Gateway], mock: MockProvider, prefix: str) -> None:
    clock = Clock()
    gw, jar = gateway(redis_route(mock, prefix), clock=clock), Jar()
    await sign_in(gw, jar)
    await visit(gw, jar)  # (starts the subscription)
    await copied(gw, jar)
    assert delete(*session_keys(prefix)) == 1  # behind the gateway's back: no announcement
    assert (await visit(gw, jar)).status == 200  # answered from the copy: Redis was not asked
    clock.advance(2)
    assert location(await visit(gw, jar)).startswith(mock.issuer)  # the copy is too old: Redis says gone


async def test_a_logout_on_one_worker_refuses_the_cookie_on_another_at_once(
        gateway: Callable[..., Gateway], mock: MockProvider, prefix: str) -> None:
    first, second = gateway(redis_route(mock, prefix)), gateway(redis_route(mock, prefix))  # an env each
    jar = Jar()
    await sign_in(first, jar)
    old = Jar(dict(jar.cookies))
    await visit(second, old)
    await copied(second, old)
    assert location(await visit(first, jar, query="logout")).startswith(f"{mock.issuer}/endsession")
    assert location(await visit(second, old)).startswith(mock.issuer)  # no wait in between


async def test_a_lost_subscription_stops_the_copies_until_it_is_back(
        gateway: Callable[..., Gateway], mock: MockProvider, prefix: str) -> None:
    gw, jar = gateway(redis_route(mock, prefix)), Jar()
    await sign_in(gw, jar)
    await visit(gw, jar)
    for back_before_the_request in (False, True):
        await copied(gw, jar)
        assert kill_subscriptions() == 1
        await wait_until_async(lambda: not storage(gw).copies.live)
        if back_before_the_request:  # reconnected, but nothing from before the loss is used
            await wait_until_async(lambda: storage(gw).copies.live)
        delete(*session_keys(prefix))
        assert location(await visit(gw, jar)).startswith(mock.issuer)  # Redis was asked: the copy is gone
        await sign_in(gw, jar)
    await copied(gw, jar)
    delete(*session_keys(prefix))
    assert (await visit(gw, jar)).status == 200  # copies again


async def test_the_workers_shutdown_stops_its_subscription(
        gateway: Callable[..., Gateway], mock: MockProvider, prefix: str) -> None:
    gw, jar = gateway(redis_route(mock, prefix)), Jar()
    await sign_in(gw, jar)
    await visit(gw, jar)
    await wait_until_async(lambda: storage(gw).copies.live)
    running = subscription(storage(gw).keys.config)._task
    await gw.close()  # what a worker does at shutdown (PluginEnv.close)
    assert running is not None and running.done() and kill_subscriptions() == 0


async def test_a_cookie_session_is_renewed_once_per_touch_interval_even_for_an_old_cookie(
        gateway: Callable[..., Gateway], mock: MockProvider) -> None:
    clock = Clock()
    gw, jar = gateway(config(mock), clock=clock), Jar()  # idle timeout 900 s: renewed at most every 60 s
    await sign_in(gw, jar)
    old = Jar(dict(jar.cookies))
    clock.advance(59)
    assert not set_cookie(await visit(gw, Jar(dict(old.cookies))))
    clock.advance(2)
    assert set_cookie(await visit(gw, jar))  # the idle deadline moves by 61 s: a new cookie
    for _ in range(3):  # the browser (or wrk) keeps sending the old cookie: not sealed again
        result = await visit(gw, Jar(dict(old.cookies)))
        assert result.status == 200 and not set_cookie(result)
    clock.advance(60)
    assert set_cookie(await visit(gw, Jar(dict(old.cookies))))
