"""Browser sign-in through real processes: two `oidcgate dp` (DB-less, same kong.yml) in front of
`oidcgate echo`, the embedded `oidcgate idp`, the third-party oauth2-mock-server, the machine's Redis,
and Chromium driven by Playwright.

Sign in through the provider's login page (or the mock's, which approves at once), land on the URL
first asked for, reload without a provider round trip, log out. Use the same session on the other data
plane (Redis storage), log out on one and see the old cookie refused on the other at once, even where
that one answers from its own copy. Refresh across both data planes: one grant at the provider, the
rotated refresh token kept, a refused refresh a new sign-in; logout revokes the tokens at the provider.
Where time matters, the stored session is aged (rewritten and announced, as any writer must).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml

from oidcgate.plugins.openid_connect.session.codec import Sealer
from oidcgate.plugins.openid_connect.session.record import Session
from tests.gui.browser import chromium
from tests.idp.helpers import Idp, authorize_with_login, running_idp, token_request
from tests.plugins.openid_connect.providers import MOCK_CLIENTS, MockProvider
from tests.support.processes import Proc, free_port, start
from tests.support.redis import DATABASE, HOST, PORT, keys_with, publish, redis_prefix

pytestmark = pytest.mark.e2e
PASSWORD = "correct horse battery"
SECRET = "e2e-session-secret"
SHARED = "shared"  # the cookie name of the Redis route


@dataclass
class Stack:
    proxies: list[str]
    statuses: list[str]
    idp: Idp
    prefix: str
    client: dict[str, Any]
    mock: MockProvider

    def refresh_grants(self) -> dict[str, int]:
        """The idp's refresh tokens by status: each refresh grant rotates one (active → rotated)."""
        path = self.idp.database.removeprefix("sqlite:///")
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT status, count(*) FROM idp_refresh_tokens GROUP BY status").fetchall()
        return {status: count for status, count in rows}


def plugin(idp: Idp, client: dict[str, Any], proxy: str, path: str, **changes: Any) -> dict[str, Any]:
    return {"name": "openid-connect", "config": {
        "issuer": idp.issuer(), "client_id": [client["client_id"]], "client_secret": [client["client_secret"]],
        "auth_methods": ["authorization_code", "session", "refresh_token"],
        "scopes": ["openid", "profile", "email", "groups", "offline_access"],
        "session_secret": SECRET, "redirect_uri": [f"{proxy}{path}/callback"],
        "logout_uri_suffix": "/logout", "logout_methods": ["GET", "POST"],
        "logout_redirect_uri": f"{proxy}/bye", "upstream_headers_claims": ["preferred_username", "groups"],
        "upstream_headers_names": ["X-User", "X-Groups"], "upstream_user_info_header": "X-Userinfo",
        **changes}}


def third_party(mock: MockProvider, proxy: str) -> dict[str, Any]:
    """The same browser route against oauth2-mock-server (whose /authorize approves at once)."""
    return {"name": "openid-connect", "config": {
        "issuer": mock.issuer, "client_id": ["web"], "client_secret": [MOCK_CLIENTS["web"]["secret"]],
        "auth_methods": ["authorization_code", "session", "refresh_token"], "session_secret": SECRET,
        "session_cookie_name": "third", "redirect_uri": [f"{proxy}/third/callback"], "logout_uri_suffix": "/logout",
        "logout_methods": ["GET", "POST"], "logout_redirect_uri": f"{proxy}/bye",
        "upstream_headers_claims": ["sub", "groups"], "upstream_headers_names": ["X-User", "X-Groups"]}}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, mock: MockProvider) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("e2e-browser")
    ports = [free_port(), free_port()]
    statuses = [free_port(), free_port()]
    proxies = [f"http://127.0.0.1:{port}" for port in ports]
    echo_port = free_port()
    with running_idp(work) as idp, redis_prefix("signin-e2e") as prefix:
        idp.create_user("alice", PASSWORD, groups=["users"], name="Alice", email="alice@example.test")
        client = idp.web_client(redirect_uris=[f"{proxies[0]}/app/callback", f"{proxies[0]}/shared/callback"],
                                post_logout_redirect_uris=[f"{proxies[0]}/bye"])
        redis = {"database": DATABASE, "prefix": prefix}
        doc = {"_format_version": "3.0", "services": [{"name": "echo", "url": f"http://127.0.0.1:{echo_port}/anything",
                                                       "routes": [
            {"name": "app", "paths": ["/app"], "plugins": [plugin(idp, client, proxies[0], "/app")]},
            {"name": "shared", "paths": ["/shared"], "plugins": [plugin(
                idp, client, proxies[0], "/shared", session_storage="redis", redis=redis,
                session_cookie_name=SHARED, logout_revoke=True)]},
            {"name": "third", "paths": ["/third"], "plugins": [third_party(mock, proxies[0])]},
            {"name": "bye", "paths": ["/bye"]}]}]}
        config = work / "kong.yml"
        config.write_text(yaml.safe_dump(doc))
        procs: list[Proc] = [start(["echo", "--listen", f"127.0.0.1:{echo_port}"], work / "echo.log", [echo_port])]
        try:
            for index, (port, status) in enumerate(zip(ports, statuses, strict=True)):
                procs.append(start(["dp", "--config", str(config), "--proxy-listen", f"127.0.0.1:{port}",
                                    "--status-listen", f"127.0.0.1:{status}", "--workers", "1",
                                    "--prefix", str(work / f"dp{index}")], work / f"dp{index}.log", [port, status]))
            yield Stack(proxies, [f"http://127.0.0.1:{s}" for s in statuses], idp, prefix, client, mock)
        finally:
            for proc in reversed(procs):
                proc.stop()


def echoed(page_text: str) -> dict[str, str]:
    return {k.lower(): v for k, v in json.loads(page_text)["headers"].items()}


def sign_in(stack: Stack) -> str:
    """alice signs in on the Redis route of the first data plane (the login form posted by httpx); her
    session cookie."""
    proxy = stack.proxies[0]
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        start = browser.get(f"{proxy}/shared/x")
        assert start.status_code == 302, start.text
        callback = authorize_with_login(browser, start.headers["location"], "alice", PASSWORD)
        assert callback.status_code == 302, callback.text
        done = browser.get(callback.headers["location"])
        assert done.status_code == 302 and done.headers["location"] == "/shared/x", done.text
        return str(browser.cookies[SHARED])


def get(proxy: str, cookie: str) -> httpx.Response:
    return httpx.get(f"{proxy}/shared/z", cookies={SHARED: cookie}, timeout=30)


def access_token(response: httpx.Response) -> str:
    assert response.status_code == 200, (response.status_code, response.text)
    return echoed(response.text)["authorization"].removeprefix("Bearer ")


@contextlib.contextmanager
def stored(stack: Stack, cookie: str) -> Iterator[tuple[redis.Redis, bytes, Session | None]]:
    """The Redis client, key and stored session a cookie of the Redis route stands for."""
    session_id = Sealer(SECRET, "session-id", SHARED).open(cookie)
    assert session_id is not None
    key = f"oidcgate:sessions:{stack.prefix}{session_id.decode()}".encode()
    with contextlib.closing(redis.Redis(host=HOST, port=PORT, db=DATABASE, socket_timeout=5)) as client:
        sealed = client.get(key)
        data = Sealer(SECRET, "session", SHARED).open(sealed.decode()) if sealed else None
        yield client, key, Session.from_bytes(data) if data else None


def age(stack: Stack, cookie: str) -> Session:
    """Make the stored session's access token expired, as time would, and announce the change as every
    writer of the keyspace does (the data planes drop their copies); the session as it was."""
    with stored(stack, cookie) as (client, key, session):
        assert session is not None
        aged = replace(session, expires_at=time.time() - 1)
        client.set(key, Sealer(SECRET, "session", SHARED).seal(aged.to_bytes()), keepttl=True)
    publish(f"oidcgate:sessions:{stack.prefix}", session.id)
    return session


def test_sign_in_reload_and_log_out_in_a_browser(stack: Stack) -> None:
    proxy = stack.proxies[0]
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{proxy}/app/orders?page=2")
        assert page.url.startswith(stack.idp.issuer())  # the provider's login page
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{proxy}/app/orders?page=2")
        seen = echoed(page.inner_text("body"))
        assert seen["x-user"] == "alice" and seen["x-groups"] == "users"
        assert seen["authorization"].startswith("Bearer ") and "x-userinfo" in seen
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.reload()
        assert page.url == f"{proxy}/app/orders?page=2" and echoed(page.inner_text("body"))["x-user"] == "alice"
        assert requested == [f"{proxy}/app/orders?page=2"]  # no provider round trip
        page.goto(f"{proxy}/app/logout")
        page.wait_for_url(f"{proxy}/bye")  # through the provider's end_session_endpoint
        assert not [c for c in page.context.cookies() if c["name"] == "session"]
        page.goto(f"{proxy}/app/orders")
        assert page.url.startswith(stack.idp.issuer())  # signed out: a new sign-in


def test_two_data_planes_share_sessions_through_redis(stack: Stack) -> None:
    first, second = stack.proxies
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{first}/shared/x")
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{first}/shared/x")
        cookie = next(c for c in page.context.cookies() if c["name"] == "shared")["value"]
        assert any(b":sessions:" in key for key in keys_with(stack.prefix))
        page.goto(f"{second}/shared/y")  # cookies do not depend on the port: the same browser session
        assert page.url == f"{second}/shared/y" and echoed(page.inner_text("body"))["x-user"] == "alice"
        old = httpx.get(f"{second}/shared/z", cookies={"shared": cookie}, timeout=10)
        assert old.status_code == 200
        logout = httpx.post(f"{first}/shared/logout", cookies={"shared": cookie}, timeout=10)
        assert logout.status_code == 302 and "/v1/logout" in logout.headers["location"]
        refused = httpx.get(f"{second}/shared/z", cookies={"shared": cookie}, timeout=10)
        assert refused.status_code == 302 and refused.headers["location"].startswith(stack.idp.issuer())
        assert not [key for key in keys_with(stack.prefix) if b":sessions:" in key and b"refresh" not in key]


def test_a_signed_in_user_outside_groups_required_and_bad_callbacks(stack: Stack, tmp_path: Path) -> None:
    proxy = stack.proxies[0]
    denied = httpx.get(f"{proxy}/app/callback", params={"error": "access_denied", "state": "x"}, timeout=10)
    assert denied.status_code == 403 and "access_denied" in denied.json()["message"]
    missing = httpx.get(f"{proxy}/app/callback", params={"code": "c", "state": "s"}, timeout=10)
    assert missing.status_code == 401 and "authorization cookie" in missing.json()["message"]


@pytest.mark.parametrize("keep_alive", [False, True], ids=["a connection per request", "one keep-alive connection"])
def test_a_data_plane_answering_from_its_copy_still_refuses_a_logged_out_cookie_at_once(
        stack: Stack, keep_alive: bool) -> None:
    """On one keep-alive connection, the second data plane takes the decision the previous request took
    again (proxy.memo.Memo.recall): that too ends with the logout."""
    first, second = stack.proxies
    cookie = sign_in(stack)
    with httpx.Client(timeout=30) as browser:
        def on_second() -> httpx.Response:
            if keep_alive:
                return browser.get(f"{second}/shared/z", headers={"Cookie": f"{SHARED}={cookie}"})
            return get(second, cookie)

        from_copy = False
        for _ in range(100):  # until the second data plane answers from its own copy (its subscription is up)
            assert on_second().status_code == 200
            with stored(stack, cookie) as (client, key, _):
                record, ttl = client.get(key), client.pttl(key)
                client.delete(key)  # behind its back (not announced): only a copy can still answer
                from_copy = on_second().status_code == 200
                client.set(key, record, px=ttl)  # type: ignore[arg-type]
            if from_copy:
                break
        assert from_copy
        assert httpx.post(f"{first}/shared/logout", cookies={SHARED: cookie}, timeout=10).status_code == 302
        refused = on_second()  # announced with the logout, before its answer: no wait here
        assert refused.status_code == 302 and refused.headers["location"].startswith(stack.idp.issuer())


def test_refresh_across_two_data_planes_is_one_grant_and_the_rotated_token_is_kept(stack: Stack) -> None:
    cookie = sign_in(stack)
    first = access_token(get(stack.proxies[1], cookie))
    before = stack.refresh_grants()
    age(stack, cookie)
    with ThreadPoolExecutor(8) as pool:  # both data planes at once, one session
        answers = list(pool.map(lambda i: get(stack.proxies[i % 2], cookie), range(8)))
    tokens = {access_token(answer) for answer in answers}
    assert len(tokens) == 1 and first not in tokens
    after = stack.refresh_grants()
    assert after.get("rotated", 0) == before.get("rotated", 0) + 1  # one refresh grant at the provider
    assert after.get("revoked", 0) == before.get("revoked", 0)  # no reuse: the family is intact
    age(stack, cookie)  # the next refresh uses the rotated token (the old one would revoke the family)
    assert access_token(get(stack.proxies[0], cookie)) not in tokens | {first}
    final = stack.refresh_grants()
    assert final.get("rotated", 0) == before.get("rotated", 0) + 2 and final.get("revoked", 0) == before.get("revoked", 0)


def test_a_refused_refresh_is_a_new_sign_in_on_every_data_plane(stack: Stack) -> None:
    cookie = sign_in(stack)
    with stored(stack, cookie) as (_, _, session):
        assert session is not None and session.refresh_token
    revoked = httpx.post(stack.idp.endpoint("revoke"), timeout=10, auth=(stack.client["client_id"],
                         stack.client["client_secret"]), data={"token": session.refresh_token})
    assert revoked.status_code == 200
    age(stack, cookie)
    for proxy in (stack.proxies[1], stack.proxies[0]):
        answer = get(proxy, cookie)
        assert answer.status_code == 302 and answer.headers["location"].startswith(stack.idp.issuer())
    with stored(stack, cookie) as (_, _, gone):
        assert gone is None  # the session was dropped


def test_logout_revokes_the_tokens_at_the_provider(stack: Stack) -> None:
    cookie = sign_in(stack)
    access = access_token(get(stack.proxies[1], cookie))
    with stored(stack, cookie) as (_, _, session):
        assert session is not None and session.refresh_token
    auth = (stack.client["client_id"], stack.client["client_secret"])

    def active(token: str, hint: str) -> bool:
        answer = httpx.post(stack.idp.endpoint("introspect"), data={"token": token, "token_type_hint": hint},
                            auth=auth, timeout=10)
        return bool(answer.json()["active"])

    assert active(access, "access_token") and active(session.refresh_token, "refresh_token")
    logout = httpx.post(f"{stack.proxies[0]}/shared/logout", cookies={SHARED: cookie}, timeout=10)
    assert logout.status_code == 302
    assert not active(access, "access_token") and not active(session.refresh_token, "refresh_token")
    refused = token_request(stack.idp, {"grant_type": "refresh_token", "refresh_token": session.refresh_token},
                            auth=auth)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_sign_in_reload_and_log_out_in_a_browser_against_a_third_party_provider(stack: Stack) -> None:
    proxy, mock = stack.proxies[0], stack.mock
    with chromium() as browser:
        page = browser.new_page()
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(f"{proxy}/third/orders?page=2")
        page.wait_for_url(f"{proxy}/third/orders?page=2")
        assert any(url.startswith(f"{mock.issuer}/authorize?") for url in requested)  # through the provider
        seen = echoed(page.inner_text("body"))
        assert seen["x-user"] == "web" and seen["x-groups"] == "users" and seen["authorization"].startswith("Bearer ")
        requested.clear()
        before = mock.counts()
        page.reload()
        assert requested == [f"{proxy}/third/orders?page=2"] and echoed(page.inner_text("body"))["x-user"] == "web"
        assert mock.counts() == before  # no provider round trip, not even a token check
        page.goto(f"{proxy}/third/logout")
        page.wait_for_url(f"{proxy}/bye")
        assert any(url.startswith(f"{mock.issuer}/endsession?") for url in requested)
        assert not [c for c in page.context.cookies() if c["name"] == "third"]
        requested.clear()
        page.goto(f"{proxy}/third/orders")
        page.wait_for_url(f"{proxy}/third/orders")
        assert any(url.startswith(f"{mock.issuer}/authorize?") for url in requested)  # signed out: a new sign-in
