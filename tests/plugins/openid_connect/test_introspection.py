"""Introspection results that describe a refresh token or an ID token are refused (the provider says the token
is active, but it is not an access token); the refusal is remembered like an inactive token's."""

from __future__ import annotations

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
