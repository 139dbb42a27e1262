"""Routes share a provider's caches (claims, introspection results, tokens, refusals) but never each other's
settings: `leeway`, `cache_ttl` and `cache_ttl_neg` are applied by each route on every lookup, and what a
route reuses for a repeat request never outlives its own rules. Time is moved with a test clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.plugins.openid_connect.harness import Gateway
from tests.plugins.openid_connect.providers import AUDIENCE, MOCK_CLIENTS, MockProvider
from tests.support import forge
from tests.support.clock import Clock

pytestmark = pytest.mark.e2e
MakeGateway = Callable[..., Gateway]
OWN_CLIENT = {"auth_methods": ["introspection"], "client_id": ["gateway"], "client_secret": ["gateway-secret"]}


def config(mock: MockProvider, **extra: Any) -> dict[str, Any]:
    return {"issuer": mock.issuer, "scopes": ["orders:read"], "bearer_token_typ_jwt_allowed": True, **extra}


def provider_signed(mock: MockProvider, exp: float) -> str:
    return forge.sign({"iss": mock.issuer, "sub": "svc", "aud": AUDIENCE, "scope": "orders:read",
                       "iat": int(time.time()), "exp": int(exp)}, mock.signing_key())


def introspected(mock: MockProvider, **changes: Any) -> dict[str, Any]:
    return {"active": True, "iss": mock.issuer, "client_id": "svc", "scope": "orders:read",
            "exp": int(time.time()) + 7200, **changes}


async def test_a_lenient_route_does_not_lend_its_leeway(mock: MockProvider, gateway: MakeGateway) -> None:
    clock = Clock()
    lenient = gateway(config(mock, leeway=3600), clock=clock)
    strict = gateway(config(mock), env=lenient.env, clock=clock)
    token = provider_signed(mock, exp=time.time() + 60)
    assert (await lenient.bearer(token)).status == 200  # seen first by the lenient route
    assert (await strict.bearer(token)).status == 200
    clock.advance(120)  # a minute after exp
    assert (await lenient.bearer(token)).status == 200  # within its own hour of leeway
    refused = await strict.bearer(token)
    assert refused.status == 401 and 'error_description="the token has expired"' in refused.description
    assert strict.fast([("Authorization", f"Bearer {token}")]) is None  # the fast path agrees


async def test_a_shorter_cache_ttl_asks_the_provider_again(mock: MockProvider, gateway: MakeGateway) -> None:
    clock = Clock()
    hourly = gateway(config(mock, **OWN_CLIENT), clock=clock)  # cache_ttl 3600
    minutely = gateway(config(mock, cache_ttl=60, **OWN_CLIENT), env=hourly.env, clock=clock)
    mock.introspects("opaque-ttl", introspected(mock))
    before = mock.counts()["introspect"]
    assert (await hourly.bearer("opaque-ttl")).status == 200
    assert (await minutely.bearer("opaque-ttl")).status == 200
    assert mock.counts()["introspect"] - before == 1  # the result is shared
    mock.introspects("opaque-ttl", {"active": False})  # revoked at the provider
    clock.advance(120)
    assert (await hourly.bearer("opaque-ttl")).status == 200  # its cache_ttl: an hour
    revoked = await minutely.bearer("opaque-ttl")
    assert revoked.status == 401 and "the token is not active" in revoked.description
    assert mock.counts()["introspect"] - before == 2


async def test_a_shorter_cache_ttl_neg_forgets_a_refusal_sooner(mock: MockProvider, gateway: MakeGateway) -> None:
    clock = Clock()
    patient = gateway(config(mock, cache_ttl_neg=3600, **OWN_CLIENT), clock=clock)
    eager = gateway(config(mock, cache_ttl_neg=5, **OWN_CLIENT), env=patient.env, clock=clock)
    assert (await patient.bearer("opaque-late")).status == 401  # not known to the provider yet
    assert (await eager.bearer("opaque-late")).status == 401
    mock.introspects("opaque-late", introspected(mock))  # now it is (e.g. replication caught up)
    clock.advance(10)
    assert (await patient.bearer("opaque-late")).status == 401  # remembered for its hour
    assert (await eager.bearer("opaque-late")).status == 200  # forgotten after its 5 s


async def test_a_shorter_cache_ttl_gets_a_fresh_client_token(mock: MockProvider, gateway: MakeGateway) -> None:
    clock = Clock()
    hourly = gateway(config(mock), clock=clock)
    minutely = gateway(config(mock, cache_ttl=60), env=hourly.env, clock=clock)
    secret = MOCK_CLIENTS["reader"]["secret"]
    before = mock.counts()["token"]
    first = await hourly.basic("reader", secret)
    assert first.status == 200 and (await minutely.basic("reader", secret)).status == 200
    assert mock.counts()["token"] - before == 1  # the token is shared
    clock.advance(120)
    again = await hourly.basic("reader", secret)
    assert again.upstream.get("Authorization") == first.upstream.get("Authorization")
    assert (await minutely.basic("reader", secret)).status == 200
    assert mock.counts()["token"] - before == 2  # the minutely route's token was too old for it
