"""The plugin's fast path (the data plane's hot path): a request whose declared inputs match a recorded
decision gets that decision replayed by the engine (proxy.memo), without the handler running. Each
test is differential: the replay is compared with the full path run on the very same request; a
request the full path would decide differently must find no recorded decision."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from oidcgate.config.entities import Consumer
from oidcgate.plugins.openid_connect.client_auth import basic_authorization
from oidcgate.plugins.openid_connect.session.codec import Sealer
from oidcgate.plugins.openid_connect.session.record import Session
from oidcgate.plugins.pdk import Context
from tests.plugins.openid_connect.harness import Gateway, Result
from tests.plugins.openid_connect.providers import MOCK_CLIENTS, MockProvider
from tests.support.redis import DATABASE, redis_prefix

pytestmark = pytest.mark.e2e
MakeGateway = Callable[..., Gateway]
BASIC = basic_authorization("svc", MOCK_CLIENTS["svc"]["secret"])
Headers = list[tuple[str, str]]


def config(mock: MockProvider, **extra: Any) -> dict[str, Any]:
    return {"issuer": mock.issuer, "scopes": ["orders:read"], "upstream_headers_claims": ["iss", "groups"],
            "upstream_headers_names": ["Issuer_Header", "X-Groups"], "bearer_token_typ_jwt_allowed": True, **extra}


def same(replayed: Context, full: Result) -> None:
    """The replay did what the full path did: the same upstream fields, consumer, credential, identity."""
    assert full.status == 200
    assert replayed.service_request.headers.items() == full.upstream.items()
    assert (replayed.consumer, replayed.credential, replayed.identity) == \
        (full.ctx.consumer, full.ctx.credential, full.ctx.identity)


async def differential(gw: Gateway, headers: Headers, query: str = "") -> Context | None:
    """The replay for this request, checked against the full path on the same request (None: no replay)."""
    replayed = gw.fast(headers, query)
    full = await gw.call(headers, query)
    if replayed is not None:
        same(replayed, full)
    return replayed


async def test_a_repeat_request_is_forwarded_as_the_full_path_forwards_it(
        mock: MockProvider, gateway: MakeGateway) -> None:
    gw = gateway(config(mock))
    assert gw.fast([("Authorization", BASIC)]) is None  # nothing recorded yet
    first = await gw.call([("Accept", "*/*"), ("Authorization", BASIC)])
    assert first.status == 200
    assert await differential(gw, [("Accept", "*/*"), ("Authorization", BASIC)]) is not None
    token = first.upstream.get("Authorization") or ""
    assert token.startswith("Bearer ") and (await gw.call([("Authorization", token)])).status == 200
    assert await differential(gw, [("Authorization", token), ("X-Other", "1")]) is not None


@pytest.mark.parametrize(("headers", "query"), [
    ([("Authorization", BASIC), ("Issuer-Header", "forged")], ""),  # forged claim headers: removed as well
    ([("Authorization", BASIC), ("x_groups", "admins"), ("ISSUER_HEADER", "x")], ""),
    ([("Authorization", BASIC)], "page=2"),  # a query without credentials in it
])
async def test_requests_with_the_same_inputs_are_replayed_as_the_full_path_decides(
        mock: MockProvider, gateway: MakeGateway, headers: Headers, query: str) -> None:
    gw = gateway(config(mock))
    assert (await gw.call([("Authorization", BASIC)])).status == 200
    assert await differential(gw, headers, query) is not None


@pytest.mark.parametrize(("headers", "query"), [
    ([], ""),
    ([("Authorization", BASIC), ("Authorization", BASIC)], ""),  # two fields: 400 on the full path
    ([("Authorization", BASIC)], "access_token=x"),  # credentials in two places: 400
    ([("Authorization", BASIC)], "client%5Fid=svc&client_secret=s"),  # an escape spelling a credential
    ([("Authorization", "Basic " + "c3ZjOndyb25n")], ""),  # svc:wrong, never accepted
])
async def test_what_the_full_path_decides_otherwise_finds_no_recorded_decision(
        mock: MockProvider, gateway: MakeGateway, headers: Headers, query: str) -> None:
    gw = gateway(config(mock))
    assert (await gw.call([("Authorization", BASIC)])).status == 200
    assert gw.fast(headers, query) is None
    refused = await gw.call(headers, query)
    assert refused.status != 200 and gw.fast(headers, query) is None  # and a refusal is never recorded


@pytest.mark.parametrize("extra", [{"hide_credentials": True}, {"upstream_access_token_header": "X-Access-Token"},
                                   {"upstream_access_token_header": "Authorization:Bearer"}])
async def test_configs_that_edit_more_are_replayed_as_the_full_path_edits(
        mock: MockProvider, gateway: MakeGateway, extra: dict[str, Any]) -> None:
    gw = gateway(config(mock, **extra))
    assert (await gw.call([("Authorization", BASIC)])).status == 200
    assert await differential(gw, [("Authorization", BASIC), ("X-Access-Token", "forged")]) is not None


async def test_the_replay_carries_the_consumer(mock: MockProvider, gateway: MakeGateway) -> None:
    svc = Consumer(id="0b9c7a36-5f0e-4c57-9d3a-2f1f6c1f0a11", username="svc")
    gw = gateway(config(mock, consumer_claim=["sub"], consumer_by=["username"]), consumers=[svc])
    first = await gw.basic("svc", MOCK_CLIENTS["svc"]["secret"])
    assert first.ctx.consumer == svc
    assert first.upstream.get("X-Consumer-ID") == svc.id and first.upstream.get("X-Consumer-Username") == "svc"
    assert first.upstream.get("X-Credential-Identifier") == "svc" and "X-Anonymous-Consumer" not in first.upstream
    replayed = await differential(gw, [("Authorization", BASIC)])
    assert replayed is not None and replayed.consumer == svc


async def test_a_decision_is_replayed_only_until_the_token_behind_it_expires(
        mock: MockProvider, gateway: MakeGateway) -> None:
    clock = [0.0]
    gw = gateway(config(mock), clock=lambda: clock[0])
    token = mock.token("svc")
    clock[0] = time.time()  # (frozen after the token was issued: its `iat` must not be in this clock's future)
    assert (await gw.bearer(token)).status == 200
    assert gw.fast([("Authorization", f"Bearer {token}")]) is not None
    clock[0] += 2 * 86400  # past the token's expiry, whatever its lifetime
    assert gw.fast([("Authorization", f"Bearer {token}")]) is None
    assert (await gw.bearer(token)).status == 401  # what the full path says now


SECRET = "shortcut-test-secret"


def session_config(mock: MockProvider, **extra: Any) -> dict[str, Any]:
    return {"issuer": mock.issuer, "client_id": ["web"], "client_secret": [MOCK_CLIENTS["web"]["secret"]],
            "auth_methods": ["session"], "session_secret": SECRET, "upstream_headers_claims": ["sub"],
            "upstream_headers_names": ["X-User"], **extra}


def session_cookie(mock: MockProvider, **changes: Any) -> Headers:
    now = time.time()
    session = Session(id="session-id", issuer=mock.issuer, client_id="web", created=now, renewed=now, seen=now,
                      access_token="opaque-access", expires_at=now + 300, id_token=None, refresh_token=None,
                      claims={"sub": "alice"})
    return [("Cookie", "session=" + Sealer(SECRET, "session", "session").seal(replace(session, **changes).to_bytes()))]


@pytest.mark.parametrize("extra", [{}, {"hide_credentials": True}])
async def test_a_browser_session_in_a_cookie_is_replayed_as_the_full_path_decides(
        mock: MockProvider, gateway: MakeGateway, extra: dict[str, Any]) -> None:
    gw = gateway(session_config(mock, **extra))
    cookie = session_cookie(mock)
    first = await gw.call(cookie)
    assert first.status == 200 and first.upstream.get("X-User") == "alice"
    replayed = await differential(gw, [*cookie, ("X-User", "forged")])
    assert replayed is not None


async def test_a_session_cookie_this_worker_dropped_is_not_replayed_again_on_the_same_connection(
        mock: MockProvider, gateway: MakeGateway) -> None:
    gw = gateway(session_config(mock))
    cookie = session_cookie(mock)
    assert (await gw.call(cookie)).status == 200
    for _ in range(3):  # one keep-alive connection: each repeat takes the previous request's decision
        assert await differential(gw, cookie) is not None
    storage = gw.handler.browser.storage  # type: ignore[union-attr]
    value = cookie[0][1].removeprefix("session=")
    session = storage.cached(value, time.time())
    assert session is not None
    await storage.destroy(session, value)  # a logout on this worker
    assert gw.fast(cookie) is None  # neither the connection's previous decision nor the memo's answers


async def test_a_session_due_for_renewal_is_not_replayed(mock: MockProvider, gateway: MakeGateway) -> None:
    gw = gateway(session_config(mock))
    due = session_cookie(mock, seen=time.time() - 100)  # the idle clock is renewed after 90 s
    renewed = await gw.call(due)
    assert renewed.status == 200 and any(name == "Set-Cookie" for name, _ in renewed.ctx.response_header_items())
    assert gw.fast(due) is None  # a response header was set: the decision is not kept


async def test_a_session_in_redis_is_replayed_while_this_workers_copy_holds_and_not_after_a_logout(
        mock: MockProvider, gateway: MakeGateway) -> None:
    with redis_prefix("shortcut") as prefix:
        gw = gateway(session_config(mock, session_storage="redis", redis={"database": DATABASE, "prefix": prefix}))
        storage = gw.handler.browser.storage  # type: ignore[union-attr]
        now = time.time()
        session = Session(id="redis-session", issuer=mock.issuer, client_id="web", created=now, renewed=now, seen=now,
                          access_token="opaque-access", expires_at=now + 300, id_token=None, refresh_token=None,
                          claims={"sub": "alice"})
        value = await storage.save(session, 300, now)
        cookie = [("Cookie", f"session={value}")]
        deadline = time.monotonic() + 10
        while gw.fast(cookie) is None:  # once this worker's copy may answer (its subscription is up)
            assert time.monotonic() < deadline, "the session was never replayed"
            assert (await gw.call(cookie)).status == 200
            await asyncio.sleep(0.05)
        assert await differential(gw, cookie) is not None
        await storage.destroy(session, value)  # a logout, here or on another data plane
        assert gw.fast(cookie) is None
        assert (await gw.call(cookie)).status == 401  # what the full path says now


def sign_in_config(mock: MockProvider) -> dict[str, Any]:
    return session_config(mock, auth_methods=["authorization_code", "session"], logout_query_arg="logout",
                          logout_methods=["GET", "POST"])


@pytest.mark.parametrize("query", ["page=2", "page=3&sort=name", "codes=1&statement=2", "q=error+page",
                                   "session=x", "logout_later=1"])
async def test_on_a_sign_in_route_the_apps_own_query_is_replayed_as_the_full_path_decides(
        mock: MockProvider, gateway: MakeGateway, query: str) -> None:
    gw = gateway(sign_in_config(mock))
    cookie = session_cookie(mock)
    assert (await gw.call(cookie)).status == 200  # recorded on `/orders`
    assert await differential(gw, cookie, query) is not None  # the same decision for `/orders?...`


@pytest.mark.parametrize("query", [
    "code=abc&state=xyz",  # a callback
    "page=2&state=xyz&code=abc",
    "c%6Fde=abc&st%61te=xyz",  # escapes spelling a callback
    "state=xyz&code=",
    "error=access_denied",
    "error=access_denied&state=xyz",
    "%65rror=x",
    "logout",  # a logout (`logout_query_arg`), with no value
    "logout=1",
    "page=2&logout=",
    "l%6Fgout=1",
])
async def test_on_a_sign_in_route_a_callback_or_logout_query_finds_no_recorded_decision(
        mock: MockProvider, gateway: MakeGateway, query: str) -> None:
    gw = gateway(sign_in_config(mock))
    cookie = session_cookie(mock)
    assert (await gw.call(cookie)).status == 200
    assert (await gw.call(cookie, "page=2")).status == 200
    assert gw.fast(cookie, "page=2") is not None  # (the keep-alive connection's previous decision, too)
    assert gw.fast(cookie, query) is None
    full = await gw.call(cookie, query)
    assert full.body is not None or full.status != 200  # the plugin answered itself: nothing proxied
    assert gw.fast(cookie, query) is None  # and that answer was not recorded
