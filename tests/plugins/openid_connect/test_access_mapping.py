"""Who a request is, against a third-party provider process (oauth2-mock-server): `credential_claim`,
`by_username_ignore_case`, `consumer_groups_claim`, `claims_forbidden` and Kong's `anonymous`.

The mock's `svc` tokens carry `sub`/`client_id` svc, `groups` [admins, users] and `org` {id: 7}; `reader`'s
carry `groups` [users]."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from oidcgate.config.entities import Consumer, ConsumerGroup
from tests.plugins.openid_connect.harness import Gateway
from tests.plugins.openid_connect.providers import MOCK_CLIENTS, MockProvider

pytestmark = pytest.mark.e2e
MakeGateway = Callable[..., Gateway]
SVC_SECRET = MOCK_CLIENTS["svc"]["secret"]
GUEST = Consumer(id="9a0e5c1d-2b3f-4e5a-8b6c-7d8e9f0a1b2c", username="guest")
ADMINS = ConsumerGroup(id="1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b", name="admins")
OPS = ConsumerGroup(id="2e3d4c5b-6a79-4887-9a0b-1c2d3e4f5a6b", name="ops")


def config(mock: MockProvider, **extra: Any) -> dict[str, Any]:
    return {"issuer": mock.issuer, "scopes": ["orders:read"], "bearer_token_typ_jwt_allowed": True, **extra}


async def test_credential_claim_identifies_the_credential(mock: MockProvider, gateway: MakeGateway) -> None:
    async def identifier(**extra: Any) -> str | None:
        result = await gateway(config(mock, **extra)).basic("svc", SVC_SECRET)
        assert result.status == 200, result.body
        return result.upstream.get("X-Credential-Identifier")

    assert await identifier() == "svc"  # Kong's default: sub
    assert await identifier(credential_claim=["org", "id"]) == "7"  # a nested scalar
    assert await identifier(credential_claim=["missing"]) == "svc"  # absent: the token's client_id
    assert await identifier(credential_claim=["groups"]) == "svc"  # not a scalar: likewise


async def test_usernames_in_any_case(mock: MockProvider, gateway: MakeGateway) -> None:
    consumers = [Consumer(id="3d4c5b6a-7988-4796-8a0b-2c3d4e5f6a7b", username="SVC")]
    mapping = {"consumer_claim": ["client_id"], "consumer_by": ["username"]}
    exact = await gateway(config(mock, **mapping), consumers=consumers).basic("svc", SVC_SECRET)
    assert exact.status == 403 and "no consumer matches the token" in exact.description
    ignoring = await gateway(config(mock, **mapping, by_username_ignore_case=True),
                             consumers=consumers).basic("svc", SVC_SECRET)
    assert ignoring.status == 200 and ignoring.ctx.consumer is consumers[0]
    assert ignoring.upstream.get("X-Consumer-Username") == "SVC"


async def test_consumer_groups_from_a_claim(mock: MockProvider, gateway: MakeGateway) -> None:
    groups = [ADMINS, OPS]
    mapped = await gateway(config(mock, consumer_groups_claim=["groups"]), groups=groups).basic("svc", SVC_SECRET)
    assert mapped.status == 200 and mapped.ctx.consumer is None  # groups without a consumer
    assert mapped.ctx.consumer_groups == (ADMINS,) and mapped.ctx.consumer_group_ids() == {ADMINS.id}
    roles = await gateway(config(mock, consumer_groups_claim=["roles"]), groups=groups).basic("svc", SVC_SECRET)
    assert roles.ctx.consumer_groups == (OPS,)
    none = await gateway(config(mock, consumer_groups_claim=["groups"]), groups=groups).basic("reader", "reader-secret")
    assert none.status == 403 and "no consumer group matches the token" in none.description
    optional = await gateway(config(mock, consumer_groups_claim=["groups"], consumer_groups_optional=True),
                             groups=groups).basic("reader", "reader-secret")
    assert optional.status == 200 and optional.ctx.consumer_groups == ()
    again = gateway(config(mock, consumer_groups_claim=["groups"]), groups=groups)  # the hot path too
    for _ in range(2):
        assert (await again.basic("svc", SVC_SECRET)).ctx.consumer_groups == (ADMINS,)


async def test_claims_forbidden(mock: MockProvider, gateway: MakeGateway) -> None:
    gw = gateway(config(mock, claims_forbidden=["org", "act"]))
    refused = await gw.basic("svc", SVC_SECRET)
    assert (refused.status, refused.body) == (401, {"message": "Unauthorized"})
    assert 'error_description="the token has the forbidden claim org"' in refused.description
    assert (await gw.bearer(mock.token("svc"))).status == 401  # a bearer token just the same
    assert (await gw.basic("reader", "reader-secret")).status == 200  # no org claim


async def test_anonymous_when_authentication_fails(mock: MockProvider, gateway: MakeGateway) -> None:
    gw = gateway(config(mock, anonymous="guest", scopes=["orders:read", "orders:write"],
                        scopes_required=["orders:write"], upstream_headers_claims=["sub"],
                        upstream_headers_names=["X-User"]), consumers=[GUEST])
    forged = [("X-User", "admin")]  # (the client's X-Consumer-* go while the proxy parses: see proxy.headers)
    for result in (await gw.call(forged),  # no credentials
                   await gw.call([*forged, ("Authorization", "Basic c3ZjOndyb25n")]),  # a refused secret: 401
                   await gw.call([*forged, ("Authorization", f"Bearer {mock.token('reader')}")])):  # lacks a scope: 403
        assert result.status == 200 and result.ctx.consumer is GUEST and result.ctx.credential is None
        assert result.upstream.get("X-Anonymous-Consumer") == "true"
        assert result.upstream.get("X-Consumer-Username") == "guest" and "X-User" not in result.upstream
    allowed = await gw.basic("svc", SVC_SECRET)  # svc has orders:write
    assert allowed.ctx.consumer is None and allowed.upstream.get("X-User") == "svc"
    assert "X-Anonymous-Consumer" not in allowed.upstream
    malformed = await gw.call([("Authorization", "Bearer a"), ("Authorization", "Bearer b")])
    assert malformed.status == 400  # not an authentication failure: the upstream might read the other field
    by_id = await gateway(config(mock, anonymous=GUEST.id), consumers=[GUEST]).call()
    assert by_id.ctx.consumer is GUEST


async def test_anonymous_is_skipped_after_an_earlier_success_and_hides_credentials(mock: MockProvider,
                                                                                   gateway: MakeGateway) -> None:
    gw = gateway(config(mock, anonymous="guest", hide_credentials=True), consumers=[GUEST])
    earlier = await gw.call([("Authorization", "Basic c3ZjOndyb25n")], authenticated=(None, {"id": "key-1"}))
    assert earlier.status == 200 and earlier.ctx.credential == {"id": "key-1"}  # Kong: a logical OR
    hidden = await gw.call([("Authorization", "Basic c3ZjOndyb25n")])
    assert hidden.ctx.consumer is GUEST and "Authorization" not in hidden.upstream


async def test_an_anonymous_consumer_that_does_not_exist_is_kongs_500(mock: MockProvider, gateway: MakeGateway,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, "oidcgate.plugins.openid_connect"):
        result = await gateway(config(mock, anonymous="ghost"), consumers=[GUEST]).call()
    assert (result.status, result.body) == (500, {"message": "An unexpected error occurred"})
    assert "the anonymous consumer 'ghost' does not exist" in caplog.text
