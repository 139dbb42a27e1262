"""The GUI in real headless Chromium against a real `oidcgate cp` process: forms, errors, escaping,
CSRF, keyboard use, the runtime manager, certificates, and a screenshot of every page for the README."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, expect

from tests.gui.browser import VIEWPORT, ControlPlane, chromium, control_plane, field, screenshot, sign_in
from tests.support.pki import CA

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

ISSUER = "http://127.0.0.1:9000/oauth2/default"

XSS = "<script>alert(1)</script>"
CONFIRMATIONS = ("Delete", "Remove")  # what the GUI asks before destructive actions


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with control_plane(tmp_path_factory.mktemp("cp")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def context(browser: Browser, cp: ControlPlane) -> Iterator[BrowserContext]:
    """One signed-in browser profile for the module (as an admin keeps a tab open)."""
    ctx = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    ctx.set_default_timeout(10_000)
    page = ctx.new_page()
    screenshot_login(page, cp)
    sign_in(page, cp.gui)
    page.close()
    yield ctx
    ctx.close()


def screenshot_login(page: Page, cp: ControlPlane) -> None:
    page.goto(cp.gui + "/services")
    expect(page).to_have_url(cp.gui + "/login?next=/services")
    screenshot(page, "01-login", full_page=False)


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    opened = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:  # only the GUI's own confirmations may appear
        dialogs.append(dialog.message)
        if dialog.type == "confirm" and dialog.message.startswith(CONFIRMATIONS):
            dialog.accept()
        else:
            dialog.dismiss()

    opened.on("dialog", on_dialog)
    yield opened
    assert all(message.startswith(CONFIRMATIONS) for message in dialogs), dialogs  # no alert(1), ever
    opened.close()


def create_service_in_browser(page: Page, cp: ControlPlane, name: str, host: str = "127.0.0.1", port: int = 9090,
                              path: str = "", screenshot_as: str | None = None) -> str:
    page.goto(cp.gui + "/services")
    page.get_by_role("link", name="New gateway service").click()
    field(page, "Name").fill(name)
    field(page, "Host").fill(host)
    field(page, "Port").fill(str(port))
    field(page, "Path").fill(path)
    if screenshot_as:
        screenshot(page, screenshot_as, full_page=False)
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status")).to_have_text("Created.")
    return page.url.split("/services/")[1].split("?")[0]


def test_service_route_and_openid_connect_plugin_through_forms(page: Page, cp: ControlPlane) -> None:
    page.goto(cp.gui + "/")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    service_id = create_service_in_browser(page, cp, "httpbin", screenshot_as="04-service-form")

    page.get_by_role("link", name="Add route").click()
    expect(field(page, "Gateway Service")).to_have_value(service_id)
    field(page, "Name").fill("oidcroute")
    field(page, "Paths").fill("/oidcroute")
    screenshot(page, "06-route-form", full_page=False)
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("cell", name="/oidcroute")).to_be_visible()

    page.get_by_role("link", name="Add plugin").click()
    screenshot(page, "07-plugin-catalogue")
    page.get_by_role("link", name="Add the OpenID Connect plugin").click()
    for label in ("Issuer", "Client ID", "Scopes", "Upstream Headers Claims", "Upstream Headers Names"):
        expect(field(page, label)).to_be_visible()
    expect(page.get_by_role("group", name="Client Secret")).to_be_visible()
    expect(field(page, "Scopes")).to_have_value("openid")  # the schema default
    screenshot(page, "08-openid-connect-form", full_page=False)

    # invalid: no issuer, then claims and header names that do not pair up; nothing is stored
    field(page, "Client ID").fill("demo-client")
    field(page, "Client Secret (new value)").fill("demo-secret")
    field(page, "Scopes").fill("")
    field(page, "Upstream Headers Claims").fill("iss\nsub")
    field(page, "Upstream Headers Names").fill("Issuer_Header")
    page.get_by_role("button", name="Create").click()
    issuer = page.locator("[data-field='config.issuer']")
    expect(issuer.locator(".field-error")).to_have_text("required field missing")
    expect(field(page, "Issuer")).to_have_attribute("aria-invalid", "true")
    expect(field(page, "Upstream Headers Claims")).to_have_value("iss\nsub")
    expect(field(page, "Client Secret (new value)")).to_have_value("")  # never echoed
    screenshot(page, "09-openid-connect-form-errors", full_page=False)
    field(page, "Issuer").fill(ISSUER)
    field(page, "Client Secret (new value)").fill("demo-secret")
    page.get_by_role("button", name="Create").click()
    names = page.locator("[data-field='config.upstream_headers_names'] .field-error")
    expect(names).to_contain_text("has 1 entries but upstream_headers_claims has 2")
    with cp.api() as api:
        assert api.get("/plugins").json()["data"] == []

    field(page, "Upstream Headers Claims").fill("iss")
    field(page, "Client Secret (new value)").fill("demo-secret")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status")).to_have_text("Created.")
    expect(page).to_have_url(f"{cp.gui}/services/{service_id}?done=created")
    row = page.get_by_role("row", name="openid-connect")
    expect(row.get_by_text("Enabled")).to_be_visible()
    screenshot(page, "05-service-detail")
    with cp.api() as api:
        [plugin] = api.get("/plugins").json()["data"]
    config = plugin["config"]
    assert plugin["service"] == {"id": service_id}
    assert (config["issuer"], config["client_id"], config["client_secret"], config["scopes"]) == (
        ISSUER, ["demo-client"], ["demo-secret"], [])
    assert (config["upstream_headers_claims"], config["upstream_headers_names"]) == (["iss"], ["Issuer_Header"])

    # disable and enable again; the edit form masks the stored secret and keeps it
    row.get_by_role("button", name="Disable plugin openid-connect").click()
    expect(page.get_by_role("status")).to_have_text("Plugin disabled.")
    page.get_by_role("row", name="openid-connect").get_by_role("button", name="Enable plugin openid-connect").click()
    expect(page.get_by_role("status")).to_have_text("Plugin enabled.")
    page.get_by_role("link", name="Edit plugin openid-connect").click()
    secret = field(page, "Client Secret 1")
    expect(secret).to_have_value("")
    expect(secret).to_have_attribute("placeholder", "•••••••• (stored)")
    assert "demo-secret" not in page.content()
    field(page, "Cache TTL").fill("120")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    with cp.api() as api:
        config = api.get(f"/plugins/{plugin['id']}").json()["config"]
    assert config["cache_ttl"] == 120 and config["client_secret"] == ["demo-secret"]


def test_lists_search_and_screenshots(page: Page, cp: ControlPlane) -> None:
    for name in ("orders", "billing", "inventory"):
        create_service_in_browser(page, cp, name)
    page.goto(cp.gui + "/services")
    screenshot(page, "03-services")
    search = field(page, "Search services")
    search.fill("bill")
    search.press("Enter")
    expect(page.get_by_role("link", name="billing")).to_be_visible()
    expect(page.get_by_role("link", name="orders")).to_have_count(0)
    page.goto(cp.gui + "/routes")
    screenshot(page, "10-routes")
    page.goto(cp.gui + "/plugins")
    screenshot(page, "11-plugins")


def test_consumers_and_escaping(page: Page, cp: ControlPlane) -> None:
    page.goto(cp.gui + "/consumers")
    page.get_by_role("link", name="New consumer").click()
    field(page, "Username").fill("alice")
    field(page, "Custom ID").fill(XSS)
    field(page, "Tags").fill("partner\n" + XSS)
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status")).to_have_text("Created.")
    expect(page.get_by_text(XSS, exact=True).first).to_be_visible()  # shown as text, not run
    page.goto(cp.gui + "/consumers")
    expect(page.get_by_role("cell", name=XSS, exact=True)).to_be_visible()
    assert page.evaluate("document.querySelectorAll('main script').length") == 0
    page.get_by_role("link", name="New consumer").click()
    field(page, "Username").fill("bob")
    page.get_by_role("button", name="Create").click()
    page.goto(cp.gui + "/consumers")
    screenshot(page, "12-consumers")
    page.get_by_role("button", name="Delete consumer bob").click()  # the confirm() is accepted
    expect(page.get_by_role("status")).to_have_text("Deleted.")
    expect(page.get_by_role("link", name="bob")).to_have_count(0)


def test_cross_site_form_post_is_refused(browser: Browser, context: BrowserContext, cp: ControlPlane) -> None:
    """A page on another origin posting to the GUI: no session cookie (SameSite=Strict), no valid token."""
    page = context.new_page()
    page.goto(cp.gui + "/services/new")
    token = page.locator("main input[name=csrf_token]").get_attribute("value")
    attacker = urllib.parse.quote(
        f'<form method="post" action="{cp.gui}/services/new"><input name="csrf_token" value="{token}">'
        '<input name="name" value="planted"><input name="host" value="evil.example"></form>'
        "<script>document.forms[0].submit()</script>")
    page.goto("data:text/html," + attacker)
    page.wait_for_url(cp.gui + "/services/new")
    assert "CSRF check failed" in page.content()
    same_origin = page.request.post(cp.gui + "/services/new", form={"name": "planted", "host": "evil.example"})
    assert same_origin.status == 403
    wrong = page.request.post(cp.gui + "/services/new",
                              form={"name": "planted", "host": "evil.example", "csrf_token": "x" * 43})
    assert wrong.status == 403
    with cp.api() as api:
        assert all(s["name"] != "planted" for s in api.get("/services").json()["data"])
    page.close()


def test_keyboard_only(page: Page, cp: ControlPlane) -> None:
    page.goto(cp.gui + "/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    assert page.evaluate("getComputedStyle(document.activeElement).boxShadow") != "none"  # visible focus
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.reload()
    for _ in range(12):  # through the navigation to the Consumers link, with Tab alone
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Consumers":
            break
    page.keyboard.press("Enter")
    expect(page).to_have_url(cp.gui + "/consumers")
    focus_ring = page.evaluate("""() => { const a = document.querySelector('nav a[href="/consumers"]');
        a.focus(); return getComputedStyle(a).boxShadow; }""")
    assert focus_ring != "none"


def test_runtime_manager_and_configure_page(context: BrowserContext, cp: ControlPlane) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=cp.gui)
    page = context.new_page()
    page.goto(cp.gui + "/runtime")
    expect(page.get_by_role("heading", name="Data Plane Nodes")).to_be_visible()
    expect(page.locator("#nodes")).to_have_attribute("data-refresh", "/runtime/nodes")
    expect(page.locator("#refresh-stamp")).to_contain_text("Updated", timeout=8000)  # gui.js refreshed it
    page.get_by_role("link", name="Configure a data plane").first.click()
    script = page.locator("#runtime-script")
    expect(script).to_contain_text("oidcgate dp")
    expect(script).to_contain_text(cp.cluster)
    screenshot(page, "14-configure-data-plane", full_page=False)
    page.get_by_role("button", name="Copy script").click()
    expect(page.locator("#copy-status")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == script.text_content()
    page.close()


def test_certificates_page(page: Page, cp: ControlPlane) -> None:
    ca = CA("Example Internal CA", days=3650)
    edge = ca.issue("api.example.test", "www.example.test", days=365)
    edge_rsa = ca.issue("api.example.test", kind="rsa", days=365)
    partner = ca.issue("partner.example.test", days=12)
    with cp.api() as api:
        for body in ({"cert": edge.cert, "key": edge.key, "cert_alt": edge_rsa.cert, "key_alt": edge_rsa.key,
                      "snis": ["api.example.test", "www.example.test"], "tags": ["edge"]},
                     {"cert": partner.cert, "key": partner.key, "snis": ["partner.example.test"]}):
            assert api.post("/certificates", json=body).status_code == 201
        assert api.post("/ca_certificates", json={"cert": ca.cert, "tags": ["upstreams"]}).status_code == 201
    page.goto(cp.gui + "/")
    page.get_by_role("link", name="Certificates").click()
    expect(page.get_by_role("heading", name="Certificates", exact=True).first).to_be_visible()
    expect(page.get_by_role("link", name="api.example.test")).to_be_visible()
    expect(page.get_by_text("12 d left")).to_be_visible()
    expect(page.get_by_role("link", name="Example Internal CA")).to_be_visible()
    assert "PRIVATE KEY" not in page.content()
    screenshot(page, "15-certificates", full_page=False)
    page.get_by_role("link", name="api.example.test").click()
    expect(page.get_by_role("heading", name="Alternative certificate")).to_be_visible()
    assert "PRIVATE KEY" not in page.content()
def test_consumer_groups_members_plugins_and_acls(page: Page, cp: ControlPlane) -> None:
    with cp.api() as api:
        for name in ("carol", "dave"):
            api.post("/consumers", json={"username": name}).raise_for_status()
        api.post("/consumer_groups", json={"name": "silver", "tags": ["tier"]}).raise_for_status()
    page.goto(cp.gui + "/consumer_groups")
    page.get_by_role("link", name="New consumer group").click()
    field(page, "Name").fill("gold")
    field(page, "Tags").fill("tier\npartners")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status")).to_have_text("Created.")
    gold = page.url.split("/")[-1].split("?")[0]
    for name in ("carol", "dave"):
        page.get_by_label("Add a consumer").select_option(label=name)
        page.get_by_role("button", name="Add to group").click()
        expect(page.get_by_role("status")).to_have_text("Added.")
    for name in ("carol", "dave"):  # members are no longer offered
        expect(page.get_by_label("Add a consumer").locator("option", has_text=name)).to_have_count(0)
    with cp.api() as api:
        api.post(f"/consumer_groups/{gold}/plugins", json={"name": "rate-limiting", "config": {
            "minute": 100, "limit_by": "consumer-group"}}).raise_for_status()
    page.goto(f"{cp.gui}/consumer_groups/{gold}")
    expect(page.locator("#plugins").get_by_role("link", name="rate-limiting", exact=True)).to_be_visible()
    screenshot(page, "17-consumer-group")
    page.get_by_role("button", name="Remove dave from gold").click()  # the confirm() is accepted
    expect(page.get_by_role("status")).to_have_text("Removed.")
    expect(page.get_by_role("link", name="dave")).to_have_count(0)
    page.goto(cp.gui + "/consumer_groups")
    screenshot(page, "16-consumer-groups")

    page.get_by_role("link", name="gold").click()
    page.get_by_role("link", name="carol").click()
    expect(page.locator("#groups").get_by_role("link", name="gold")).to_be_visible()
    page.get_by_label("Add an ACL group").fill("staff")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Added.")
    expect(page.locator("#acls").get_by_role("cell", name="staff", exact=True)).to_be_visible()
    page.get_by_label("Add an ACL group").fill(XSS + ",x")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("Not added:")
    with cp.api() as api:
        carol = api.get("/consumers/carol/acls").json()["data"]
    assert [acl["group"] for acl in carol] == ["staff"]
