"""The cluster cache (`cluster_cache_strategy: redis`) against the machine's Redis and a third-party provider
process: gateways with a PluginEnv each stand for workers (of one node or several) sharing one Redis.

What the tests show: one token request and one introspection for every worker; entries sealed and named so
that Redis reveals no credential; a tampered entry or another secret's is a miss; Redis down is the
worker's own cache, logged without the password."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from oidcgate.shared_state import close_pools
from tests.plugins.openid_connect.harness import Gateway
from tests.plugins.openid_connect.providers import MOCK_CLIENTS, MockProvider
from tests.support.processes import free_port
from tests.support.redis import DATABASE, HOST, PORT, keys_with, redis_prefix

pytestmark = pytest.mark.e2e
MakeGateway = Callable[..., Gateway]
SVC_SECRET = MOCK_CLIENTS["svc"]["secret"]
SECRET = "cluster-cache-test-secret-0123456789"


@pytest.fixture
async def prefix() -> Any:
    with redis_prefix("oidc-cache") as found:
        yield found
    await close_pools()


def shared(mock: MockProvider, prefix: str, **extra: Any) -> dict[str, Any]:
    return {"issuer": mock.issuer, "scopes": ["orders:read"], "bearer_token_typ_jwt_allowed": True,
            "cluster_cache_strategy": "redis", "session_secret": SECRET,
            "cluster_cache_redis": {"database": DATABASE, "prefix": prefix}, **extra}


def raw(name: bytes) -> bytes | None:
    client = redis.Redis(host=HOST, port=PORT, db=DATABASE, socket_timeout=5)
    try:
        value = client.get(name)
        return value if isinstance(value, bytes) else None
    finally:
        client.close()


@pytest.fixture
def direct() -> Iterator[redis.Redis]:
    client = redis.Redis(host=HOST, port=PORT, db=DATABASE, socket_timeout=5)
    yield client
    client.close()


async def test_every_worker_shares_one_token_request(mock: MockProvider, gateway: MakeGateway, prefix: str) -> None:
    workers = [gateway(shared(mock, prefix)) for _ in range(4)]
    before = mock.counts()["token"]
    first = await asyncio.gather(*(worker.basic("svc", SVC_SECRET) for worker in workers for _ in range(3)))
    assert [r.status for r in first] == [200] * 12
    tokens = {r.upstream.get("Authorization") for r in first}
    assert len(tokens) == 1  # one token, obtained once, for every worker
    for worker in workers * 5:
        assert (await worker.basic("svc", SVC_SECRET)).upstream.get("Authorization") in tokens
    assert mock.counts()["token"] - before == 1


async def test_entries_are_sealed_and_named_without_credentials(mock: MockProvider, gateway: MakeGateway,
                                                                prefix: str, direct: redis.Redis) -> None:
    result = await gateway(shared(mock, prefix)).basic("svc", SVC_SECRET)
    token = (result.upstream.get("Authorization") or "").removeprefix("Bearer ")
    names = keys_with(prefix)
    assert len(names) == 1 and names[0].startswith(f"oidcgate:oidc-cache:{prefix}token:".encode())
    value = raw(names[0])
    assert value is not None and token.encode() not in value and b"svc" not in value and b"svc" not in names[0]
    assert SVC_SECRET.encode() not in value and not value.startswith(b"{")

    before = mock.counts()["token"]
    other = await gateway(shared(mock, prefix, session_secret="another-secret-" + "9" * 20)).basic("svc", SVC_SECRET)
    assert other.status == 200 and mock.counts()["token"] - before == 1  # cannot read the first one's entry
    assert len(keys_with(prefix)) == 2 and raw(names[0]) == value  # ... nor overwrite it

    direct.set(names[0], b"tampered")
    tampered = await gateway(shared(mock, prefix)).basic("svc", SVC_SECRET)
    assert tampered.status == 200 and mock.counts()["token"] - before == 2  # a miss, then a fresh entry
    assert raw(names[0]) not in (b"tampered", value)


async def test_introspection_results_are_shared(mock: MockProvider, gateway: MakeGateway, prefix: str) -> None:
    mock.introspects("opaque-shared", {"active": True, "iss": mock.issuer, "client_id": "svc", "scope": "orders:read"})
    mock.introspects("opaque-inactive", {"active": False})
    config = shared(mock, prefix, auth_methods=["introspection"], client_id=["gateway"], client_secret=["s"])
    before = mock.counts()["introspect"]
    results = await asyncio.gather(*(gateway(config).bearer(token) for token in ("opaque-shared", "opaque-inactive")
                                     for _ in range(3)))
    assert [r.status for r in results] == [200] * 3 + [401] * 3
    assert mock.counts()["introspect"] - before == 2  # one per token for the three workers, the refusal too
    uncached = gateway({**config, "cache_introspection": False})
    assert (await uncached.bearer("opaque-shared")).status == 200
    assert mock.counts()["introspect"] - before == 3  # false asks every time, the cluster cache included


async def test_redis_down_is_the_workers_own_cache(mock: MockProvider, gateway: MakeGateway, prefix: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    down = {"database": DATABASE, "prefix": prefix, "port": free_port(), "password": "redis-pw-never-logged",
            "connect_timeout": 300}
    worker = gateway(shared(mock, prefix, cluster_cache_redis=down))
    before = mock.counts()["token"]
    with caplog.at_level(logging.WARNING, "oidcgate.plugins.openid_connect.cluster_cache"):
        for _ in range(3):
            assert (await worker.basic("svc", SVC_SECRET)).status == 200
    assert mock.counts()["token"] - before == 1  # then the worker's own cache
    warnings = [r.getMessage() for r in caplog.records if r.name.endswith("cluster_cache")]
    assert len(warnings) == 1 and f"127.0.0.1:{down['port']}/{DATABASE}" in warnings[0]
    assert "this worker uses its own cache" in warnings[0] and "redis-pw-never-logged" not in caplog.text
