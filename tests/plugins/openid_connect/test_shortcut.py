"""The plugin's shortcut (the data plane's hot path): a repeat request gets exactly what its first one led
to, and anything the full path would decide differently is left to the full path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from oidcgate.config.entities import Consumer
from oidcgate.plugins.openid_connect.client_auth import basic_authorization
from tests.plugins.openid_connect.harness import Gateway
from tests.plugins.openid_connect.providers import MOCK_CLIENTS, MockProvider

pytestmark = pytest.mark.e2e
MakeGateway = Callable[..., Gateway]
BASIC = basic_authorization("svc", MOCK_CLIENTS["svc"]["secret"])


def config(mock: MockProvider, **extra: Any) -> dict[str, Any]:
    return {"issuer": mock.issuer, "scopes": ["orders:read"], "upstream_headers_claims": ["iss", "groups"],
            "upstream_headers_names": ["Issuer_Header", "X-Groups"], **extra}


async def test_a_repeat_request_is_forwarded_as_the_full_path_forwarded_the_first(
        mock: MockProvider, gateway: MakeGateway) -> None:
    gw = gateway(config(mock))
    assert gw.shortcut([("Authorization", BASIC)])[0] is None  # nothing known yet
    first = await gw.call([("Accept", "*/*"), ("Authorization", BASIC)])
    assert first.status == 200
    known, forwarded = gw.shortcut([("Accept", "*/*"), ("Authorization", BASIC)])
    assert known is not None and forwarded == first.upstream.fields
    token = first.upstream.get("Authorization")
    bearer_first = await gw.call([("Authorization", token)])  # type: ignore[list-item]
    bearer_known, bearer_forwarded = gw.shortcut([("Authorization", token)])  # type: ignore[list-item]
    assert bearer_known is not None and bearer_known.authorization is None  # passed on as it came
    assert bearer_forwarded == bearer_first.upstream.fields


@pytest.mark.parametrize(("headers", "query"), [
    ([], ""),
    ([("Authorization", BASIC), ("Authorization", BASIC)], ""),
    ([("Authorization", BASIC)], "access_token=x"),
    ([("Authorization", BASIC)], "client%5Fid=svc"),  # an escape could spell a credential parameter
    ([("Authorization", BASIC), ("Issuer-Header", "forged")], ""),
    ([("Authorization", BASIC), ("x_groups", "admins")], ""),
    ([("Authorization", "Basic " + "c3ZjOndyb25n")], ""),  # svc:wrong, never accepted
])
async def test_what_the_full_path_must_decide_gets_no_shortcut(
        mock: MockProvider, gateway: MakeGateway, headers: list[tuple[str, str]], query: str) -> None:
    gw = gateway(config(mock))
    assert (await gw.basic("svc", MOCK_CLIENTS["svc"]["secret"])).status == 200
    assert gw.shortcut(headers, query)[0] is None


@pytest.mark.parametrize("extra", [{"hide_credentials": True}, {"upstream_access_token_header": "X-Access-Token"}])
async def test_configs_whose_edits_a_shortcut_cannot_express(
        mock: MockProvider, gateway: MakeGateway, extra: dict[str, Any]) -> None:
    gw = gateway(config(mock, **extra))
    assert (await gw.basic("svc", MOCK_CLIENTS["svc"]["secret"])).status == 200
    assert gw.shortcut([("Authorization", BASIC)])[0] is None


async def test_the_shortcut_carries_the_consumer(mock: MockProvider, gateway: MakeGateway) -> None:
    svc = Consumer(id="0b9c7a36-5f0e-4c57-9d3a-2f1f6c1f0a11", username="svc")
    gw = gateway(config(mock, consumer_claim=["sub"], consumer_by=["username"]), consumers=[svc])
    first = await gw.basic("svc", MOCK_CLIENTS["svc"]["secret"])
    assert first.ctx.consumer == svc
    assert first.upstream.get("X-Consumer-ID") == svc.id and first.upstream.get("X-Consumer-Username") == "svc"
    assert first.upstream.get("X-Credential-Identifier") == "svc" and "X-Anonymous-Consumer" not in first.upstream
    known, forwarded = gw.shortcut([("Authorization", BASIC)])
    assert known is not None and known.consumer == svc
    assert forwarded == first.upstream.fields  # the consumer headers too
