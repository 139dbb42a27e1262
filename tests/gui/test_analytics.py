"""The Analytics page and the analytics panels of the service, route and consumer pages, over the real Admin
API and store (in-process): figures, charts readable without colour, windows, scopes and escaping."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from oidcgate.controlplane.analytics import AnalyticsStore
from oidcgate.controlplane.store import Store
from tests.gui.conftest import Gui
from tests.support.analytics import report, row

XSS_USERNAME = '<img src=x onerror="alert(1)">'


async def traffic(gui: Gui, store: Store) -> dict[str, str]:
    """A service with a route, a consumer, and one minute of their traffic (minute in progress)."""
    async def create(path: str, **body: Any) -> str:
        response = await gui.admin.post(path, json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    ids = {"shop": await create("/services", name="shop", host="shop.internal"),
           "orders": await create("/services/shop/routes", name="orders", paths=["/orders"]),
           "alice": await create("/consumers", username=XSS_USERNAME)}
    shop, orders, alice = (ids["shop"], "shop"), (ids["orders"], "orders"), (ids["alice"], XSS_USERNAME)
    AnalyticsStore(store.engine).record(report(
        int(time.time()) // 60 * 60, row(orders, shop, alice, s200=[1.5] * 30, s403=[0.5] * 2),
        row(orders, shop, s401=[0.5] * 5, s503=[450.0]), row(s404=[0.2] * 4)))
    return ids


def section(page: str, element_id: str) -> str:
    """The markup of the element with that id (to the end of the page: enough for these checks)."""
    start = page.index(f'id="{element_id}"')
    return page[start:]


async def test_the_analytics_page_shows_the_windows_traffic(gui: Gui, store: Store) -> None:
    await traffic(gui, store)
    response = await gui.http.get("/analytics")
    assert response.status_code == 200
    page = response.text
    assert '<a href="/analytics" aria-current="page">Analytics</a>' in page  # in the navigation
    assert '<a href="/analytics?window=15m" aria-current="true">Last 15 minutes</a>' in page
    assert re.search(r'<span class="n">42</span><span class="l">Requests</span>', page)
    assert "401: 5 · 403: 2 · 429: 0" in page and '<span class="n">1</span><span class="l">5xx server errors' in page
    # The requests chart: a labelled image whose segments are filled with one pattern per status class.
    assert '<svg class="chart" viewBox="0 0 960 250" role="img" aria-labelledby="requests-title">' in page
    for name in ("2xx", "3xx", "4xx", "5xx", "1xx"):
        assert f'<pattern id="requests-{name}"' in page
    assert {fill for fill in re.findall(r'class="seg"[^>]*fill="url\(#requests-(\dxx)\)"', page)} == {
        "2xx", "4xx", "5xx"}
    assert "requests per minute (2xx 30, 4xx 11, 5xx 1)</title>" in page
    assert '<path class="pline p99"' in page and '<polygon class="mark p99"' in page  # dash and shape per line
    for label in ("2xx success", "4xx client error", "5xx server error", "p50", "p95", "p99"):
        assert f"</svg>{label}</li>" in page  # every series named in a legend
    table = section(page, "top-routes")
    assert ">orders</a>" in table and "No route matched" in table and "90.5 %" in table  # 38 of 42
    consumers = section(page, "top-consumers")
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;</a>" in consumers and XSS_USERNAME not in page
    assert "<summary>The numbers, step by step</summary>" in page


async def test_windows_and_a_bad_window(gui: Gui, store: Store) -> None:
    await traffic(gui, store)
    day = await gui.http.get("/analytics", params={"window": "1d"})
    assert day.status_code == 200 and "Requests per minute (15-minute average); times in UTC." in day.text
    assert '<a href="/analytics?window=1d" aria-current="true">Last day</a>' in day.text
    bad = await gui.http.get("/analytics", params={"window": "2h"})
    assert bad.status_code == 400 and "Unknown window" in bad.text and "Last 15 minutes" not in bad.text


async def test_the_page_narrowed_to_a_route_and_an_unknown_route(gui: Gui, store: Store) -> None:
    ids = await traffic(gui, store)
    response = await gui.http.get("/analytics", params={"route": ids["orders"], "window": "1h"})
    assert response.status_code == 200
    assert f'Route <a href="/routes/{ids["orders"]}">orders</a>' in response.text
    assert '<span class="n">38</span><span class="l">Requests</span>' in response.text
    assert f'href="/analytics?route={ids["orders"]}&amp;window=15m"' in response.text  # the scope is kept
    missing = await gui.http.get("/analytics", params={"route": "8d0c6a4e-1f2b-4c3d-9e8f-7a6b5c4d3e2f"})
    assert missing.status_code == 404


@pytest.mark.parametrize(("kind", "total", "listed"), [
    ("services", 38, "Top routes"), ("routes", 38, "Top consumers"), ("consumers", 32, "Top routes")])
async def test_entity_pages_have_an_analytics_panel(gui: Gui, store: Store, kind: str, total: int,
                                                    listed: str) -> None:
    ids = await traffic(gui, store)
    entity_id = ids[{"services": "shop", "routes": "orders", "consumers": "alice"}[kind]]
    response = await gui.http.get(f"/{kind}/{entity_id}", params={"window": "1h"})
    assert response.status_code == 200
    panel = section(response.text, "analytics")
    assert f'<span class="n">{total}</span><span class="l">Requests</span>' in panel and f"<h3>{listed}</h3>" in panel
    assert f'href="/{kind}/{entity_id}?window=1h#analytics" aria-current="true">Last hour</a>' in panel
    assert '<pattern id="panel-requests-4xx"' in panel
    scope = kind.removesuffix("s")
    assert f'href="/analytics?{scope}={entity_id}&amp;window=1h">Open in Analytics</a>' in panel


async def test_no_traffic_says_so(gui: Gui) -> None:
    page = (await gui.http.get("/analytics")).text
    assert page.count("No requests in this window</text>") == 2
    assert "No requests in this window.</p>" in page and "No consumer was identified in this window." in page
    assert '<span class="n">\u2013</span><span class="l">p95 latency' in page  # an en dash: no latency
