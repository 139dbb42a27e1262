"""Token refresh of browser sessions at handler level, against oauth2-mock-server made to rotate refresh
tokens (each works once, as at real providers): an expiring access token is refreshed once and the
rotated refresh token kept, concurrent requests of one session refresh once (one worker with cookies,
two workers sharing Redis), and a refused refresh is a new sign-in. The clock is injected."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.plugins.openid_connect.harness import Gateway, Result
from tests.plugins.openid_connect.providers import MockProvider
from tests.plugins.openid_connect.signin import Jar, config, location, sign_in, visit
from tests.support.clock import Clock
from tests.support.polling import wait_until_async
from tests.support.redis import DATABASE, keys_with, redis_prefix

TOKEN_LIFETIME = 3600  # oauth2-mock-server's
STORAGES = ["cookie", "redis"]


@pytest.fixture
def prefix() -> Iterator[str]:
    with redis_prefix("refresh") as prefix:
        yield prefix


@pytest.fixture
def clock(mock: MockProvider) -> Iterator[Clock]:
    """The gateways' clock, which the provider follows."""
    clock = Clock()
    with mock.following(clock):
        yield clock


def refreshing(mock: MockProvider, storage: str, prefix: str, **changes: Any) -> dict[str, Any]:
    """A sign-in route whose sessions outlive the access token (no idle or rolling timeout)."""
    redis = {"session_storage": "redis", "redis": {"database": DATABASE, "prefix": prefix}} if storage == "redis" else {}
    return config(mock, session_idling_timeout=0, session_rolling_timeout=0, **redis, **changes)


def token(result: Result) -> str:
    assert result.status == 200, (result.status, result.body)
    return result.upstream.get("Authorization") or ""


def refreshes(mock: MockProvider) -> int:
    return mock.grants()["refresh"]


@pytest.mark.parametrize("storage", STORAGES)
@pytest.mark.parametrize(("leeway", "before", "after"), [(0, 3599, 3601), (120, 3470, 3490)],
                         ids=["expired", "within leeway"])
async def test_an_expiring_access_token_is_refreshed_once_and_the_rotated_token_kept(
        gateway: Callable[..., Gateway], mock: MockProvider, prefix: str, clock: Clock, storage: str,
        leeway: int, before: int, after: int) -> None:
    gw, jar = gateway(refreshing(mock, storage, prefix, leeway=leeway), clock=clock), Jar()
    await sign_in(gw, jar)
    first = token(await visit(gw, jar))
    start = refreshes(mock)
    clock.advance(before)
    assert token(await visit(gw, jar)) == first and refreshes(mock) == start  # not due yet
    clock.advance(after - before)
    renewed = await visit(gw, jar)
    assert token(renewed) != first and refreshes(mock) == start + 1
    assert any(name.lower() == "set-cookie" for name, _ in renewed.ctx.response_header_items())
    assert token(await visit(gw, jar)) == token(renewed) and refreshes(mock) == start + 1  # once
    clock.advance(TOKEN_LIFETIME)  # the provider took the old refresh token back: the rotated one works
    again = await visit(gw, jar)
    assert token(again) not in (first, token(renewed)) and refreshes(mock) == start + 2


async def test_concurrent_requests_of_one_browser_refresh_once_in_a_worker(
        gateway: Callable[..., Gateway], mock: MockProvider, prefix: str, clock: Clock) -> None:
    gw, jar = gateway(refreshing(mock, "cookie", prefix), clock=clock), Jar()
    await sign_in(gw, jar)
    old_cookie = Jar(dict(jar.cookies))
    start = refreshes(mock)
    clock.advance(TOKEN_LIFETIME + 1)
    mock.delay(200)  # the refresh is slow: the other requests arrive while it runs
    try:
        results = await asyncio.gather(*(visit(gw, Jar(dict(old_cookie.cookies))) for _ in range(6)))
    finally:
        mock.delay(0)
    assert len({token(result) for result in results}) == 1 and refreshes(mock) == start + 1
    late = await visit(gw, Jar(dict(old_cookie.cookies)))  # a request still carrying the old cookie
    assert token(late) == token(results[0]) and refreshes(mock) == start + 1


async def test_concurrent_requests_across_two_workers_refresh_once_with_redis(
        gateway: Callable[..., Gateway], mock: MockProvider, prefix: str, clock: Clock) -> None:
    workers = [gateway(refreshing(mock, "redis", prefix), clock=clock) for _ in range(2)]  # an env each
    jar = Jar()
    await sign_in(workers[0], jar)
    start = refreshes(mock)
    clock.advance(TOKEN_LIFETIME + 1)
    mock.delay(200)
    try:
        results = await asyncio.gather(*(visit(workers[i % 2], Jar(dict(jar.cookies))) for i in range(8)))
    finally:
        mock.delay(0)
    assert len({token(result) for result in results}) == 1 and refreshes(mock) == start + 1


@pytest.mark.parametrize("storage", STORAGES)
async def test_a_refused_refresh_is_a_new_sign_in(gateway: Callable[..., Gateway], mock: MockProvider,
                                                  prefix: str, clock: Clock, storage: str) -> None:
    gw, jar = gateway(refreshing(mock, storage, prefix), clock=clock), Jar()
    await sign_in(gw, jar)
    old = dict(jar.cookies)
    clock.advance(TOKEN_LIFETIME + 1)
    with mock.refusing_refresh():
        result = await visit(gw, jar)
    assert location(result).startswith(mock.issuer)  # a new sign-in
    assert set(jar.cookies) == {"authorization"}  # the session cookie dropped
    if storage == "redis":  # the session is gone for every copy of the cookie
        assert not [key for key in keys_with(prefix) if b"refresh:" not in key]
        start = refreshes(mock)
        assert location(await visit(gw, Jar(old))).startswith(mock.issuer) and refreshes(mock) == start


async def test_a_session_without_a_refresh_token_method_signs_in_again(
        gateway: Callable[..., Gateway], mock: MockProvider, prefix: str, clock: Clock) -> None:
    gw, jar = gateway(refreshing(mock, "cookie", prefix, auth_methods=["authorization_code", "session"]),
                      clock=clock), Jar()
    await sign_in(gw, jar)
    start = refreshes(mock)
    clock.advance(TOKEN_LIFETIME + 1)
    assert location(await visit(gw, jar)).startswith(mock.issuer) and refreshes(mock) == start


async def test_a_refresh_goes_on_when_the_browser_leaves_mid_way(
        gateway: Callable[..., Gateway], mock: MockProvider, prefix: str, clock: Clock) -> None:
    """The data plane cancels a request whose client left. A refresh cut off after the provider rotated
    the refresh token would leave the session holding a used one: the next refresh would be refused."""
    gw, jar = gateway(refreshing(mock, "cookie", prefix), clock=clock), Jar()
    await sign_in(gw, jar)
    start, token_requests = refreshes(mock), mock.counts()["token"]
    clock.advance(TOKEN_LIFETIME + 1)
    mock.delay(300)
    try:
        leaving = asyncio.ensure_future(visit(gw, Jar(dict(jar.cookies))))
        await wait_until_async(lambda: mock.counts()["token"] > token_requests)  # the refresh reached the provider
        leaving.cancel()
        await wait_until_async(lambda: refreshes(mock) > start)  # and the provider rotated the token
    finally:
        mock.delay(0)
    assert gw.handler.browser is not None
    await wait_until_async(lambda: not gw.handler.browser.detached)  # the new tokens are stored
    assert token(await visit(gw, jar)) and refreshes(mock) == start + 1
