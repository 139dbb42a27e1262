"""The Analytics page in headless Chromium against real processes: `oidcgate cp` with its GUI, a data plane
reporting every second, the echo upstream and `oidcgate idp` (for a consumer). A known mix of traffic goes
through the data plane; the page must show it, and its screenshots go to docs/screenshots/."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.cluster import topology
from tests.cluster.topology import DataPlane
from tests.gui.browser import VIEWPORT, ControlPlane, chromium, control_plane, screenshot, sign_in
from tests.idp.helpers import running_idp
from tests.support.analytics import configure_routes, send
from tests.support.polling import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

# (path, with the client's credentials, expected status, requests)
MIX = (("/open", False, 200, 24), ("/secured", True, 200, 8), ("/secured", False, 401, 5), ("/flaky", False, 503, 2),
       ("/nowhere", False, 404, 3))
TOTAL = sum(count for *_, count in MIX)


@dataclass
class Stack:
    cp: ControlPlane
    dp: DataPlane
    client: dict[str, Any]
    routes: dict[str, str]  # name -> id


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder: Path = tmp_path_factory.mktemp("analytics-browser")
    with contextlib.ExitStack() as stack, control_plane(folder / "cp") as cp, running_idp(folder) as idp:
        echo_proc, echo = topology.echo(folder)
        stack.callback(echo_proc.stop)
        client = idp.cc_client()
        dp = topology.data_plane(folder, cp.files, cp.cluster, "dp", ("--analytics-flush-interval", "1"))
        stack.callback(dp.stop)
        api = stack.enter_context(cp.api())
        routes = configure_routes(api, echo, idp.issuer(), client["client_id"])
        config_hash = api.get("/clustering/status").json()["config_hash"]
        wait_until(lambda: dp.config_hash() == config_hash, timeout=10)
        for path, authenticated, status, count in MIX:
            send(dp.proxy, path, status, count, client if authenticated else None)
        wait_until(lambda: api.get("/analytics/summary").json()["total"] >= TOTAL, timeout=20, interval=0.2)
        yield Stack(cp, dp, client, routes)


@pytest.fixture(scope="module")
def page(stack: Stack) -> Iterator[Page]:
    with chromium() as browser:
        context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
        context.set_default_timeout(10_000)
        opened = context.new_page()
        sign_in(opened, stack.cp.gui)
        yield opened
        context.close()


def test_the_analytics_page_shows_the_traffic_sent(page: Page, stack: Stack) -> None:
    page.get_by_role("link", name="Analytics", exact=True).click()
    expect(page.get_by_role("heading", name="Analytics", exact=True)).to_be_visible()
    expect(page.locator(".figures .stat").first).to_have_text(f"{TOTAL}Requests")
    expect(page.locator(".figures")).to_contain_text("401: 5 · 403: 0 · 429: 0")
    chart = page.get_by_role("img", name="Requests per minute by status class, last 15 minutes")
    expect(chart).to_be_visible()
    fills = {chart.locator("rect.seg").nth(i).get_attribute("fill") for i in range(chart.locator("rect.seg").count())}
    assert fills == {"url(#requests-2xx)", "url(#requests-4xx)", "url(#requests-5xx)"}  # patterns, not colours
    expect(page.get_by_role("img", name="Latency percentiles p50, p95 and p99 in milliseconds, last 15 minutes")
           ).to_be_visible()
    for label in ("2xx success", "4xx client error", "5xx server error", "p99"):
        expect(page.locator(".legend li", has_text=label).first).to_be_visible()
    routes = page.locator("#top-routes tbody tr")
    expect(routes.first).to_contain_text("open")
    expect(routes.first).to_contain_text("24")
    expect(page.locator("#top-routes")).to_contain_text("No route matched")
    expect(page.locator("#top-consumers tbody tr").first).to_contain_text(stack.client["client_id"])
    screenshot(page, "15-analytics")

    page.get_by_text("The numbers, step by step").click()
    rows = page.locator("details.numbers tbody tr")
    assert sum(int(rows.nth(i).locator("td").nth(1).inner_text()) for i in range(rows.count())) == TOTAL
    page.get_by_role("link", name="Last hour").click()
    expect(page).to_have_url(stack.cp.gui + "/analytics?window=1h")
    expect(page.get_by_role("link", name="Last hour")).to_have_attribute("aria-current", "true")
    expect(page.get_by_role("img", name="Requests per minute by status class, last hour")).to_be_visible()


def test_a_route_page_has_its_analytics_panel(page: Page, stack: Stack) -> None:
    page.goto(f"{stack.cp.gui}/routes/{stack.routes['secured']}")
    panel = page.locator("#analytics")
    expect(panel.get_by_role("heading", name="Analytics")).to_be_visible()
    expect(panel.locator(".figures .stat").first).to_have_text("13Requests")
    expect(panel.locator("tbody tr").first).to_contain_text(stack.client["client_id"])
    panel.get_by_role("link", name="Last day").click()
    expect(page).to_have_url(f"{stack.cp.gui}/routes/{stack.routes['secured']}?window=1d#analytics")
    expect(page.locator("#analytics").get_by_role("img", name="Requests per minute by status class, last day")
           ).to_be_visible()
    screenshot(page, "16-route-analytics", full_page=False)  # (scrolled to the panel by its #analytics)
    page.get_by_role("link", name="Open in Analytics").click()
    expect(page.locator(".page-head .sub")).to_contain_text("Route secured")
