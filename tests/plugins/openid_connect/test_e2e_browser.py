"""Browser sign-in through real processes: two `oidcgate dp` (DB-less, same kong.yml) in front of
`oidcgate echo`, the embedded `oidcgate idp`, the machine's Redis, and Chromium driven by Playwright.

Sign in through the provider's login page, land on the URL first asked for, reload without a provider
round trip, use the same session on the other data plane (Redis storage), log out on one and see the
old cookie refused on the other at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.gui.browser import chromium
from tests.idp.helpers import Idp, running_idp
from tests.support.processes import Proc, free_port, start
from tests.support.redis import DATABASE, keys_with, redis_prefix

pytestmark = pytest.mark.e2e
PASSWORD = "correct horse battery"


@dataclass
class Stack:
    proxies: list[str]
    statuses: list[str]
    idp: Idp
    prefix: str


def plugin(idp: Idp, client: dict[str, Any], proxy: str, path: str, **changes: Any) -> dict[str, Any]:
    return {"name": "openid-connect", "config": {
        "issuer": idp.issuer(), "client_id": [client["client_id"]], "client_secret": [client["client_secret"]],
        "auth_methods": ["authorization_code", "session", "refresh_token"],
        "scopes": ["openid", "profile", "email", "groups", "offline_access"],
        "session_secret": "e2e-session-secret", "redirect_uri": [f"{proxy}{path}/callback"],
        "logout_uri_suffix": "/logout", "logout_methods": ["GET", "POST"],
        "logout_redirect_uri": f"{proxy}/bye", "upstream_headers_claims": ["preferred_username", "groups"],
        "upstream_headers_names": ["X-User", "X-Groups"], "upstream_user_info_header": "X-Userinfo",
        **changes}}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
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
                session_cookie_name="shared", logout_revoke=True)]},
            {"name": "bye", "paths": ["/bye"]}]}]}
        config = work / "kong.yml"
        config.write_text(yaml.safe_dump(doc))
        procs: list[Proc] = [start(["echo", "--listen", f"127.0.0.1:{echo_port}"], work / "echo.log", [echo_port])]
        try:
            for index, (port, status) in enumerate(zip(ports, statuses, strict=True)):
                procs.append(start(["dp", "--config", str(config), "--proxy-listen", f"127.0.0.1:{port}",
                                    "--status-listen", f"127.0.0.1:{status}", "--workers", "1",
                                    "--prefix", str(work / f"dp{index}")], work / f"dp{index}.log", [port, status]))
            yield Stack(proxies, [f"http://127.0.0.1:{s}" for s in statuses], idp, prefix)
        finally:
            for proc in reversed(procs):
                proc.stop()


def echoed(page_text: str) -> dict[str, str]:
    import json
    return {k.lower(): v for k, v in json.loads(page_text)["headers"].items()}


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
