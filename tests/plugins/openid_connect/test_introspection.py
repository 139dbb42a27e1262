"""Introspection results that describe a refresh token or an ID token are refused (the provider says the token
is active, but it is not an access token); the refusal is remembered like an inactive token's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from oidcgate.plugins.openid_connect.introspection import not_an_access_token
from tests.plugins.openid_connect.harness import Gateway
from tests.plugins.openid_connect.providers import MockProvider


@pytest.mark.parametrize(("response", "kind"), [
    ({"active": True, "token_type": "Bearer"}, None),
    ({"active": True, "token_type": "access_token"}, None),
    ({"active": True}, None),
    ({"active": True, "token_type": "refresh_token"}, "a refresh token"),  # WSO2 and others
    ({"active": True, "token_type": "Refresh_Token"}, "a refresh token"),
    ({"active": True, "token_type": "urn:ietf:params:oauth:token-type:refresh_token"}, "a refresh token"),
    ({"active": True, "token_use": "refresh_token"}, "a refresh token"),  # Ory Hydra
    ({"active": True, "token_use": "access_token"}, None),
    ({"active": True, "typ": "Refresh"}, "a refresh token"),  # Keycloak
    ({"active": True, "typ": "ID"}, "an ID token"),
    ({"active": True, "typ": "Bearer"}, None),
    ({"active": True, "token_type": 7}, None),
])
def test_what_a_response_says_the_token_is(response: dict[str, Any], kind: str | None) -> None:
    assert not_an_access_token(response) == kind


@pytest.mark.e2e
async def test_a_refresh_token_is_refused_even_when_active(mock: MockProvider,
                                                          gateway: Callable[..., Gateway]) -> None:
    gw = gateway({"issuer": mock.issuer, "auth_methods": ["introspection"], "client_id": ["gateway"],
                  "client_secret": ["gateway-secret"]})
    facts = {"active": True, "iss": mock.issuer, "client_id": "svc", "scope": "orders:read",
             "exp": int(time.time()) + 600}
    mock.introspects("opaque-access", {**facts, "token_type": "Bearer"})
    mock.introspects("opaque-refresh", {**facts, "token_type": "refresh_token"})
    assert (await gw.bearer("opaque-access")).status == 200
    before = mock.counts()["introspect"]
    for _ in range(3):
        refused = await gw.bearer("opaque-refresh")
        assert (refused.status, refused.body) == (401, {"message": "Unauthorized"})
        assert refused.description == ('Bearer realm="oidcgate", error="invalid_token", '
                                       'error_description="the token is a refresh token, not an access token"')
    assert mock.counts()["introspect"] - before == 1  # remembered for cache_ttl_neg


def introspecting(mock: MockProvider, **extra: Any) -> dict[str, Any]:
    return {"issuer": mock.issuer, "client_id": ["gateway"], "client_secret": ["gateway-secret"],
            "bearer_token_typ_jwt_allowed": True, **extra}


@pytest.mark.e2e
async def test_introspect_jwt_tokens_asks_whether_a_valid_jwt_is_still_active(
        mock: MockProvider, gateway: Callable[..., Gateway]) -> None:
    token = mock.token("svc")
    plain = gateway(introspecting(mock))
    assert (await plain.bearer(token)).status == 200  # verified locally, never introspected
    asking = gateway(introspecting(mock, introspect_jwt_tokens=True))
    refused = await asking.bearer(token)  # the mock knows nothing of it: inactive
    assert refused.status == 401 and 'error_description="the token is not active"' in refused.description
    mock.introspects(token, {"active": True, "client_id": "svc", "claims": "not used"})
    again = gateway(introspecting(mock, introspect_jwt_tokens=True))
    before = mock.counts()["introspect"]
    for _ in range(3):
        passed = await again.bearer(token)
        assert passed.status == 200 and passed.ctx.identity is not None
        assert "claims" not in passed.ctx.identity.claims  # the claims stay the verified JWT's
    assert mock.counts()["introspect"] - before == 1  # cached (cache_introspection), and the hot path


@pytest.mark.e2e
async def test_without_the_introspection_cache_a_revoked_jwt_is_refused_at_once(
        mock: MockProvider, gateway: Callable[..., Gateway]) -> None:
    token = mock.token("svc")
    mock.introspects(token, {"active": True, "client_id": "svc"})
    gw = gateway(introspecting(mock, introspect_jwt_tokens=True, cache_introspection=False))
    before = mock.counts()["introspect"]
    assert [r.status for r in await asyncio.gather(*(gw.bearer(token) for _ in range(3)))] == [200] * 3
    assert (await gw.bearer(token)).status == 200
    assert mock.counts()["introspect"] - before == 4  # every request asked, the concurrent ones too
    mock.introspects(token, {"active": False})  # revoked at the provider
    assert (await gw.bearer(token)).status == 401


@pytest.mark.e2e
async def test_introspection_check_active(mock: MockProvider, gateway: Callable[..., Gateway]) -> None:
    facts = {"iss": mock.issuer, "client_id": "svc", "scope": "orders:read", "exp": int(time.time()) + 600}
    mock.introspects("no-active-member", facts)
    mock.introspects("said-inactive", {**facts, "active": False})
    mock.introspects("active-not-boolean", {**facts, "active": "yes"})
    strict = gateway(introspecting(mock, auth_methods=["introspection"]))
    refused = await strict.bearer("no-active-member")
    assert (refused.status, refused.body) == (502, {
        "message": "Bad Gateway: the identity provider's introspection response has no boolean 'active'"})
    lenient = gateway(introspecting(mock, auth_methods=["introspection"], introspection_check_active=False))
    accepted = await lenient.bearer("no-active-member")
    assert accepted.status == 200 and accepted.ctx.identity is not None
    assert accepted.ctx.identity.client_id == "svc"
    assert (await lenient.bearer("said-inactive")).status == 401  # the provider said no: never accepted
    assert (await lenient.bearer("active-not-boolean")).status == 502
