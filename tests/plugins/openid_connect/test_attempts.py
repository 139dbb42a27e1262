"""Refused client credentials are counted per client address, and an address past the limit gets 429 without
the provider being called; the right secret from any other address always goes through."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from oidcgate.plugins.openid_connect.attempts import LIMIT, WINDOW, FailedAttempts
from tests.plugins.openid_connect.harness import Gateway
from tests.plugins.openid_connect.providers import MOCK_CLIENTS, MockProvider
from tests.support.clock import Clock

MakeGateway = Callable[..., Gateway]
ATTACKER, VICTIM = "203.0.113.7", "198.51.100.2"


def test_failures_count_per_address_within_a_window() -> None:
    attempts = FailedAttempts(limit=3, window=60)
    for index in range(3):
        assert attempts.retry_after(ATTACKER, 100 + index) is None
        attempts.begin(ATTACKER, 100 + index)
        attempts.end(ATTACKER, failed=True, now=100 + index)
    assert attempts.retry_after(ATTACKER, 110) == 50  # until the window that began at 100 ends
    assert attempts.retry_after(VICTIM, 110) is None  # another address
    assert attempts.retry_after(ATTACKER, 160) is None  # a new window


def test_successes_do_not_count_and_do_not_forgive() -> None:
    attempts = FailedAttempts(limit=2, window=60)
    for failed in (True, False, False, False, True):
        attempts.begin(ATTACKER, 100)
        attempts.end(ATTACKER, failed=failed, now=100)
    assert attempts.retry_after(ATTACKER, 100) == 60


def test_attempts_in_flight_count_so_a_burst_cannot_pass_the_limit() -> None:
    attempts = FailedAttempts(limit=3, window=60)
    for _ in range(3):
        assert attempts.retry_after(ATTACKER, 100) is None
        attempts.begin(ATTACKER, 100)
    assert attempts.retry_after(ATTACKER, 100) == 1  # they may yet succeed: ask again in a second
    attempts.end(ATTACKER, failed=False, now=100)
    assert attempts.retry_after(ATTACKER, 100) is None


def test_memory_is_bounded() -> None:
    attempts = FailedAttempts(limit=1, window=60, max_entries=100)
    for index in range(1000):
        address = f"2001:db8::{index:x}"
        attempts.begin(address, 100)
        attempts.end(address, failed=True, now=100)
    assert len(attempts) == 100
    assert attempts.retry_after("2001:db8::3e7", 100) == 60 and attempts.retry_after("2001:db8::1", 100) is None


@pytest.mark.e2e
async def test_an_address_spraying_wrong_secrets_is_stopped_before_the_provider(
        mock: MockProvider, gateway: MakeGateway) -> None:
    clock = Clock()
    gw = gateway({"issuer": mock.issuer, "scopes": ["orders:read"]}, clock=clock)
    before = mock.counts()["token"]
    sprayed = [await gw.basic("svc", f"guess-{index}", client_ip=ATTACKER) for index in range(LIMIT + 5)]
    assert [r.status for r in sprayed] == [401] * LIMIT + [429] * 5
    assert mock.counts()["token"] - before == LIMIT
    throttled = sprayed[-1]
    assert throttled.body == {"message": "Too Many Requests: too many refused client credentials from this address"}
    assert throttled.headers is not None and 0 < int(throttled.headers["Retry-After"]) <= WINDOW
    assert "guess-" not in str(throttled.body) + str(throttled.headers)

    victim = await gw.basic("svc", MOCK_CLIENTS["svc"]["secret"], client_ip=VICTIM)  # at once, another address
    assert victim.status == 200 and mock.counts()["token"] - before == LIMIT + 1

    burst = await asyncio.gather(*(gw.basic("reader", f"burst-{index}", client_ip="203.0.113.8")
                                   for index in range(3 * LIMIT)))  # concurrent: none has failed yet
    assert sorted(r.status for r in burst) == [401] * LIMIT + [429] * (2 * LIMIT)
    assert mock.counts()["token"] - before == 2 * LIMIT + 1

    clock.advance(WINDOW)
    assert (await gw.basic("svc", "one-more-guess", client_ip=ATTACKER)).status == 401  # a new window
    assert mock.counts()["token"] - before == 2 * LIMIT + 2


@pytest.mark.e2e
async def test_a_repeated_wrong_secret_costs_nothing_and_never_blocks_the_right_one(
        mock: MockProvider, gateway: MakeGateway) -> None:
    gw = gateway({"issuer": mock.issuer, "scopes": ["orders:read"], "cache_ttl_neg": 60})
    before = mock.counts()["token"]
    for _ in range(3 * LIMIT):  # one wrong secret, again and again: answered from the negative cache
        assert (await gw.basic("reader", "the-same-wrong-secret", client_ip=ATTACKER)).status == 401
    assert mock.counts()["token"] - before == 1
    assert (await gw.basic("reader", MOCK_CLIENTS["reader"]["secret"], client_ip=ATTACKER)).status == 200
    started = time.monotonic()
    assert (await gw.basic("reader", MOCK_CLIENTS["reader"]["secret"], client_ip=VICTIM)).status == 200
    assert time.monotonic() - started < 1  # cached: not even a provider call
