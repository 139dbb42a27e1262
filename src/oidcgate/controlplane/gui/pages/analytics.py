"""Analytics: the traffic the data planes reported, for the last 15 minutes, hour or day, of everything or of
one service, route or consumer; and the same as a panel on the service, route and consumer pages.

Everything comes from the Admin API's `/analytics/summary` and `/analytics/timeseries`; the charts are
SVG drawn on the server (`oidcgate.controlplane.gui.charts`).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oidcgate.controlplane.analytics import DEFAULT_WINDOW, WINDOWS
from oidcgate.controlplane.gui import charts
from oidcgate.controlplane.gui.admin_client import AdminClient, segment
from oidcgate.controlplane.gui.web import admin, render

WINDOW_LABELS = {"15m": "Last 15 minutes", "1h": "Last hour", "1d": "Last day"}
SCOPES = (("service", "services", "Gateway service"), ("route", "routes", "Route"),
          ("consumer", "consumers", "Consumer"))
TOP = 10  # routes and consumers listed


def window_of(request: Request) -> str:
    window = request.query_params.get("window", DEFAULT_WINDOW)
    if window not in WINDOWS:
        raise HTTPException(400, f"Unknown window '{window}': choose {', '.join(WINDOW_LABELS.values()).lower()}.")
    return window


def window_links(path: str, window: str, anchor: str = "", **params: str) -> list[tuple[str, str, bool]]:
    """(label, href, current) for each window, keeping the other query parameters."""
    return [(label, f"{path}?{urlencode({**params, 'window': key})}{anchor}", key == window)
            for key, label in WINDOW_LABELS.items()]


async def report(client: AdminClient, window: str, **scope: str) -> dict[str, Any]:
    """The summary, the time series and their charts."""
    params = {"window": window, **scope}
    summary, series = await asyncio.gather(client.get("/analytics/summary", params),
                                           client.get("/analytics/timeseries", params))
    return {"window": window, "window_label": WINDOW_LABELS[window], "summary": summary, "series": series,
            "requests_chart": charts.status_bars(series), "latency_chart": charts.percentile_lines(series),
            "top": TOP}


async def panel(request: Request, **scope: str) -> dict[str, Any]:
    """The analytics panel of an entity page (its window from the page's `?window=`)."""
    window = window_of(request)
    found = await report(admin(request), window, **scope)
    return {**found, "windows": window_links(request.url.path, window, "#analytics"),
            "more": f"/analytics?{urlencode({**scope, 'window': window})}"}


async def analytics_page(request: Request) -> Response:
    window = window_of(request)
    client = admin(request)
    scope = {kind: value for kind, _, _ in SCOPES if (value := request.query_params.get(kind))}
    subjects = []
    for kind, collection, label in SCOPES:  # what the page is about, by name, linked to its page
        if kind in scope:
            entity = await client.get(f"/{collection}/{segment(scope[kind])}")
            subjects.append((label, entity.get("name") or entity.get("username") or entity.get("custom_id")
                             or entity["id"], f"/{collection}/{entity['id']}"))
    found = await report(client, window, **scope)
    return render(request, "analytics/page.html", {
        "title": "Analytics", "subjects": subjects, "windows": window_links("/analytics", window, **scope),
        **found}, section="analytics")


routes = [Route("/analytics", analytics_page)]
