"""The whole story in a browser, as an admin coming from Kong Manager would do it, then checked through
the data plane: real `oidcgate idp`, `echo`, `cp` and `dp --cp` processes, headless Chromium.

Service and route and the openid-connect plugin are created through the GUI's forms; the runtime
manager shows the data plane; a request without credentials gets 401, one with the identity
provider client's credentials gets 200 with the `iss` claim injected upstream.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.cluster.topology import data_plane
from tests.gui.browser import VIEWPORT, ControlPlane, chromium, control_plane, field, screenshot, sign_in
from tests.support.polling import wait_until
from tests.support.processes import free_port, running

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

SCOPE = "orders:read"


@dataclass
class Story:
    cp: ControlPlane
    proxy: str
    issuer: str
    echo_port: int
    client_id: str
    client_secret: str


def idp_client(idp: str, token: str) -> tuple[str, str]:
    """A client-credentials client at the identity provider, through its admin API."""
    with httpx.Client(base_url=idp + "/api/v1", headers={"Authorization": f"SSWS {token}"}, timeout=10) as admin:
        admin.post("/scopes", json={"name": SCOPE, "description": "read orders"}).raise_for_status()
        created = admin.post("/clients", json={"name": "gui-story", "grant_types": ["client_credentials"],
                                                "scopes": [SCOPE], "token_endpoint_auth_method":
                                                    "client_secret_basic"})
        created.raise_for_status()
        body = created.json()
    return body["client_id"], body["client_secret"]


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    root = tmp_path_factory.mktemp("story")
    idp_port, echo_port = free_port(), free_port()
    idp_token = secrets.token_urlsafe(16)
    with contextlib.ExitStack() as stack:
        stack.enter_context(running(["idp", "--listen", f"127.0.0.1:{idp_port}", "--prefix", str(root / "idp"),
                                     f"--admin-token={idp_token}"], root / "idp.log", [idp_port],
                                    env={"OIDCGATE_IDP_ARGON2_TIME_COST": "1",
                                         "OIDCGATE_IDP_ARGON2_MEMORY_COST": "8192"}))
        stack.enter_context(running(["echo", "--listen", f"127.0.0.1:{echo_port}"], root / "echo.log", [echo_port]))
        cp = stack.enter_context(control_plane(root / "cp"))
        dp = data_plane(root, cp.files, cp.cluster, "dp")
        stack.callback(dp.stop)
        idp = f"http://127.0.0.1:{idp_port}"
        client_id, client_secret = idp_client(idp, idp_token)
        yield Story(cp, dp.proxy, f"{idp}/oauth2/default", echo_port, client_id, client_secret)


def wait_for_status(url: str, expected: int, auth: tuple[str, str] | None = None,
                    timeout: float = 10.0) -> httpx.Response:
    """The data plane applies pushed config within a second; allow a little more on a busy machine."""
    responses: list[httpx.Response] = []

    def answered() -> bool:
        responses.append(httpx.get(url, auth=auth, timeout=10))
        return responses[-1].status_code == expected

    wait_until(answered, timeout=timeout, interval=0.2, what=f"{expected} from {url}")
    return responses[-1]


def add_openid_connect(page: Page, story: Story) -> None:
    page.get_by_role("link", name="Add plugin").click()
    page.get_by_role("link", name="Add the OpenID Connect plugin").click()
    field(page, "Issuer").fill(story.issuer)
    field(page, "Client ID").fill(story.client_id)
    field(page, "Client Secret (new value)").fill(story.client_secret)
    field(page, "Scopes").fill(SCOPE)
    auth_methods = page.get_by_role("group", name="Auth Methods")
    auth_methods.get_by_label("introspection").uncheck()
    field(page, "Upstream Headers Claims").fill("iss")
    field(page, "Upstream Headers Names").fill("Issuer_Header")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status")).to_have_text("Created.")


def test_whole_story_in_the_browser_then_through_the_data_plane(story: Story) -> None:
    cp = story.cp
    with chromium() as browser:
        context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
        context.set_default_timeout(15_000)
        page = context.new_page()
        sign_in(page, cp.gui)

        nav = page.get_by_role("navigation", name="Main")
        nav.get_by_role("link", name="Gateway Services").click()
        page.get_by_role("link", name="New gateway service").click()
        field(page, "Name").fill("httpbin")
        field(page, "Host").fill("127.0.0.1")
        field(page, "Port").fill(str(story.echo_port))
        field(page, "Path").fill("/anything")
        page.get_by_role("button", name="Create").click()
        expect(page.get_by_role("status")).to_have_text("Created.")

        page.get_by_role("link", name="Add route").click()
        field(page, "Name").fill("oidcroute")
        field(page, "Paths").fill("/oidcroute")
        page.get_by_role("button", name="Create").click()
        expect(page.get_by_role("cell", name="/oidcroute")).to_be_visible()

        # the route serves without authentication until the plugin is added
        assert wait_for_status(story.proxy + "/oidcroute", 200).status_code == 200
        add_openid_connect(page, story)

        nav.get_by_role("link", name="Data Plane Nodes").click()
        row = page.locator("#nodes tr").first
        expect(row).to_contain_text("normal", timeout=20_000)  # refreshed by itself until in sync
        expect(row).to_contain_text("127.0.0.1")
        current_hash = page.locator("dl.props dd.mono").first.text_content() or ""
        expect(row.locator("td").nth(4)).to_have_attribute("title", current_hash.strip(), timeout=20_000)
        screenshot(page, "13-runtime")
        nav.get_by_role("link", name="Overview").click()
        expect(page.get_by_text("1 data plane known, 1 in sync.")).to_be_visible()
        screenshot(page, "02-overview")
        context.close()

    anonymous = wait_for_status(story.proxy + "/oidcroute", 401)
    assert anonymous.status_code == 401, anonymous.text
    authorized = wait_for_status(story.proxy + "/oidcroute", 200, auth=(story.client_id, story.client_secret))
    assert authorized.status_code == 200, authorized.text
    upstream_headers = {k.lower(): v for k, v in authorized.json()["headers"].items()}
    assert upstream_headers.get("issuer_header", upstream_headers.get("issuer-header")) == story.issuer
    wrong = httpx.get(story.proxy + "/oidcroute", auth=(story.client_id, "wrong-secret"), timeout=10)
    assert wrong.status_code == 401
