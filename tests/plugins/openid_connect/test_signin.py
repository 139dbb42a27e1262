"""Browser sign-in at handler level against a real third-party provider (oauth2-mock-server): the code
flow end to end, every refused callback and ID token, and sessions that must not be accepted."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from oidcgate.plugins.openid_connect.session.codec import Sealer
from oidcgate.plugins.openid_connect.session.cookies import CookieSpec
from oidcgate.plugins.openid_connect.session.record import Session
from tests.plugins.openid_connect.harness import Gateway
from tests.plugins.openid_connect.providers import MockProvider
from tests.plugins.openid_connect.signin import SECRET, Jar, config, location, sign_in, visit
from tests.support import forge
from tests.support.processes import free_port
from tests.support.redis import DATABASE, redis_prefix


async def test_sign_in_lands_on_the_original_url_and_the_session_is_used(
        gateway: Callable[..., Gateway], mock: MockProvider) -> None:
    gw, jar = gateway(config(mock)), Jar()
    first = await visit(gw, jar, query="page=2")
    query = parse_qs(urlsplit(location(first)).query)
    assert query["code_challenge_method"] == ["S256"] and query["redirect_uri"] == ["http://gw/orders"]
    assert set(jar.cookies) == {"authorization"}
    jar.cookies.clear()
    done, _ = await sign_in(gw, jar)
    assert location(done) == "/orders" and set(jar.cookies) == {"session"}
    before = mock.counts()
    ok = await visit(gw, jar)
    assert ok.status == 200, ok.body
    upstream = ok.upstream
    assert upstream.get("X-Groups") == "users" and upstream.get("X-ID-Token", "").count(".") == 2
    assert upstream.get("Authorization", "").startswith("Bearer ")
    assert mock.counts() == before  # the session is used without asking the provider


async def test_the_original_query_is_kept(gateway: Callable[..., Gateway], mock: MockProvider) -> None:
    gw, jar = gateway(config(mock)), Jar()
    start = await visit(gw, jar, query="page=2&q=a%20b")

    answer = httpx.get(location(start), timeout=10)
    done = await visit(gw, jar, query=urlsplit(answer.headers["location"]).query)
    assert location(done) == "/orders?page=2&q=a%20b"


async def test_a_replayed_callback_is_refused_without_a_token_request(
        gateway: Callable[..., Gateway], mock: MockProvider) -> None:
    gw, jar = gateway(config(mock)), Jar()
    _, query = await sign_in(gw, jar)
    tokens = mock.counts()["token"]
    replay = await visit(gw, Jar(), query=query)
    assert replay.status == 401 and "authorization cookie is missing" in replay.body["message"]
    assert mock.counts()["token"] == tokens


async def test_state_mismatch_and_access_denied(gateway: Callable[..., Gateway], mock: MockProvider) -> None:
    gw, jar = gateway(config(mock)), Jar()
    await visit(gw, jar)
    tokens = mock.counts()["token"]
    forged = await visit(gw, jar, query="code=abc&state=attacker")
    assert forged.status == 401 and "state does not match" in forged.body["message"]
    assert "authorization" not in jar.cookies  # one callback per sign-in: no second try with it
    denied = await visit(gw, Jar(), query="error=access_denied&state=x")
    assert denied.status == 403 and "access_denied" in denied.body["message"]
    assert mock.counts()["token"] == tokens


async def test_provider_down_at_the_callback_is_502(gateway: Callable[..., Gateway], mock: MockProvider) -> None:
    gw, jar = gateway(config(mock, token_endpoint=f"http://127.0.0.1:{free_port()}/token", timeout=2000)), Jar()
    start = await visit(gw, jar)

    answer = httpx.get(location(start), timeout=10)
    result = await visit(gw, jar, query=urlsplit(answer.headers["location"]).query)
    assert result.status == 502 and "could not be reached" in result.body["message"]


@pytest.mark.parametrize(("changes", "key", "message"), [
    ({"nonce": "another"}, None, "nonce does not match"),
    ({"aud": "someone-else"}, None, "audience"),
    ({"iss": "http://127.0.0.1:1"}, None, "issuer"),
    ({}, forge.rsa_key("mock-like"), "signed with an unknown key|signature"),
])
async def test_id_tokens_that_are_refused(gateway: Callable[..., Gateway], mock: MockProvider,
                                          changes: dict[str, Any], key: Any, message: str) -> None:
    from oidcgate.plugins.openid_connect.authcode import SignInFailed
    gw = gateway(config(mock, rediscovery_lifetime=0))
    now = int(time.time())
    claims = {"iss": mock.issuer, "aud": "web", "sub": "u", "iat": now, "exp": now + 60, "nonce": "n", **changes}
    token = forge.sign(claims, key or mock.signing_key())
    with pytest.raises(SignInFailed, match=message):
        await gw.handler.browser._id_claims(token, "n", now)  # type: ignore[union-attr]


def sealed_session(mock: MockProvider, secret: str = SECRET, **changes: Any) -> str:
    now = time.time()
    session = Session(id="forged-id", issuer=mock.issuer, client_id="web", created=now, renewed=now, seen=now,
                      access_token="opaque-access", expires_at=now + 300, id_token=None, refresh_token=None,
                      claims={"sub": "alice", "groups": ["users"]})
    return Sealer(secret, "session", "session").seal(replace(session, **changes).to_bytes())


async def test_sessions_that_are_not_accepted(gateway: Callable[..., Gateway], mock: MockProvider) -> None:
    gw = gateway(config(mock))
    assert (await visit(gw, Jar({"session": sealed_session(mock)}))).status == 200  # the control
    now = time.time()
    good = sealed_session(mock)
    refused = {
        "tampered": good[:30] + ("A" if good[30] != "A" else "B") + good[31:],
        "another secret": sealed_session(mock, secret="another-secret"),
        "idle": sealed_session(mock, seen=now - 901),
        "absolute": sealed_session(mock, created=now - 86401),
        "rolling": sealed_session(mock, renewed=now - 3601),
        "another issuer": sealed_session(mock, issuer="http://127.0.0.1:1"),
    }
    for case, value in refused.items():
        result = await visit(gw, Jar({"session": value}))
        assert result.status == 302 and location(result).startswith(mock.issuer), case


async def test_a_6_kb_session_travels_in_two_cookies(gateway: Callable[..., Gateway], mock: MockProvider) -> None:
    gw = gateway(config(mock))
    value = sealed_session(mock, claims={"sub": "alice", "big": secrets.token_urlsafe(4600)})  # (incompressible)
    headers = CookieSpec("session", "/", None, "Lax", True, None).write(value, 60, False, {})
    jar = Jar({h.split("=", 1)[0]: h.split("=", 1)[1].split(";")[0] for h in headers})
    assert set(jar.cookies) == {"session", "session_2"} and 6000 < len(value) < 8000
    result = await visit(gw, jar)
    assert result.status == 200 and result.upstream.get("X-User") == "alice"
    del jar.cookies["session_2"]
    assert (await visit(gw, jar)).status == 302


async def test_groups_required_applies_to_sessions(gateway: Callable[..., Gateway], mock: MockProvider) -> None:
    gw = gateway(config(mock, groups_required=["admins"]))
    result = await visit(gw, Jar({"session": sealed_session(mock)}))
    assert result.status == 403


async def test_session_only_routes_answer_401_not_a_redirect(gateway: Callable[..., Gateway],
                                                             mock: MockProvider) -> None:
    gw = gateway(config(mock, auth_methods=["session"]))
    assert (await visit(gw, Jar())).status == 401
    assert (await visit(gw, Jar({"session": sealed_session(mock)}))).status == 200


async def test_redis_down_is_a_clear_503(gateway: Callable[..., Gateway], mock: MockProvider) -> None:
    redis = {"port": free_port(), "connect_timeout": 500, "send_timeout": 500, "read_timeout": 500}
    gw = gateway(config(mock, session_storage="redis", redis=redis))
    result = await visit(gw, Jar({"session": "anything"}))
    assert result.status == 302  # a cookie that is not ours needs no Redis call
    with redis_prefix("signin") as prefix:
        live = gateway(config(mock, session_storage="redis", redis={"database": DATABASE, "prefix": prefix}))
        jar = Jar()
        done, _ = await sign_in(live, jar)
        assert location(done) == "/orders"
        down = await visit(gw, jar)
    assert down.status == 503 and "session storage cannot be reached" in down.body["message"]
