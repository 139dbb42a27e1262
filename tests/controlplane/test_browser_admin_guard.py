"""The attacks on a tokenless Admin API as a real browser makes them: headless Chromium on a page of
another site (a cross-site form and a no-cors text/plain fetch) and on a rebound name, against a real
`oidcgate cp`. The browser, not the test, writes Host, Origin and Sec-Fetch-Site.

Both attacker names resolve to 127.0.0.1 in this browser only: evil.example is DNS rebinding done,
and attacker.example's page is served from loopback so that Chromium's own Local Network Access
block (which other browsers lack) does not stop the requests before the gateway sees them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

import httpx
import pytest
from playwright.sync_api import Browser

from tests.controlplane.cp_process import ControlPlane, running_cp
from tests.gui.browser import chromium
from tests.support.threaded_http import serving

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

REBOUND, ATTACKER = "evil.example", "attacker.example"
KONG_YML = '_format_version: "3.0"\nservices:\n- name: planted\n  url: http://evil.example\n'


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with running_cp(tmp_path_factory.mktemp("browser-guard") / "cp") as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium(f"--host-resolver-rules=MAP {REBOUND} 127.0.0.1, MAP {ATTACKER} 127.0.0.1") as launched:
        yield launched


@dataclass
class AttackerSite:
    """The attacker's web server: it serves `html` at `origin` + "/"."""

    origin: str
    html: bytes = b""


@pytest.fixture
def attacker_site() -> Iterator[AttackerSite]:
    site = AttackerSite("")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(site.html)))
            self.end_headers()
            self.wfile.write(site.html)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(Handler) as port:
        site.origin = f"http://{ATTACKER}:{port}"
        yield site


def config_hash(cp: ControlPlane) -> str:
    return httpx.get(f"{cp.admin}/config").headers["X-Config-Hash"]


def test_a_page_of_another_site_cannot_change_the_configuration(browser: Browser, cp: ControlPlane,
                                                                 attacker_site: AttackerSite) -> None:
    before = config_hash(cp)
    attacker_site.html = (f'<form method="post" action="{cp.admin}/services"><input name="name" '
                          'value="planted"><input name="url" value="http://evil.example"></form>').encode()
    page = browser.new_page()
    page.goto(attacker_site.origin + "/")
    sent = page.evaluate("([url, body]) => fetch(url, {method: 'POST', mode: 'no-cors', body})"  # text/plain
                         ".then(() => 'sent')", [f"{cp.admin}/config", KONG_YML])
    assert sent == "sent"
    with page.expect_navigation(url=f"{cp.admin}/services") as navigation:
        page.locator("form").evaluate("form => form.submit()")
    response = navigation.value
    assert response is not None and response.status == 403
    assert response.json() == {"message": f"cross-site request refused: Origin '{attacker_site.origin}' is not local"}
    page.close()
    assert httpx.get(f"{cp.admin}/services/planted").status_code == 404
    assert config_hash(cp) == before


def test_a_rebound_name_cannot_read_the_configuration(browser: Browser, cp: ControlPlane) -> None:
    page = browser.new_page()
    response = page.goto(f"http://{REBOUND}:{cp.admin_port}/config")
    assert response is not None and response.status == 421
    same_origin = page.evaluate("() => fetch('/clustering/runtime-script').then(r => r.status)")
    assert same_origin == 421
    page.close()
