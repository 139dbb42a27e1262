"""Runtime manager: the data planes this control plane knows, refreshing by themselves, and how to add one."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oidcgate.controlplane.gui.admin_client import AdminClient, AdminError
from oidcgate.controlplane.gui.web import admin, render

REFRESH_MS = 3000
SYNC_BADGES = {"normal": "ok", "unknown": "warn"}  # anything else (incompatible, ...) is shown as a problem


async def data_planes(client: AdminClient) -> list[dict[str, Any]]:
    nodes = await client.list_all("/clustering/data-planes")
    nodes.sort(key=lambda n: (str(n.get("hostname") or ""), str(n.get("id"))))
    return nodes


def _context(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"nodes": nodes, "badges": SYNC_BADGES}


async def runtime_page(request: Request) -> Response:
    client = admin(request)
    nodes = await data_planes(client)
    cluster = await client.get("/clustering/status")
    return render(request, "runtime/nodes.html", {
        "title": "Data Plane Nodes", "refresh_ms": REFRESH_MS, "cluster": cluster, **_context(nodes),
    }, section="runtime")


async def runtime_rows(request: Request) -> Response:
    """The table body alone, fetched every few seconds by gui.js."""
    nodes = await data_planes(admin(request))
    return render(request, "runtime/_rows.html", _context(nodes), section="runtime")


async def configure(request: Request) -> Response:
    script: str | None = None
    problem: str | None = None
    try:
        body = await admin(request).get("/clustering/runtime-script")
    except AdminError as exc:
        if exc.status >= 500 or exc.status in (401, 403):
            raise
        problem = exc.message  # e.g. no cluster certificate configured on this control plane
    else:
        script = body.get("script") if isinstance(body, dict) else body
    return render(request, "runtime/configure.html", {
        "title": "Configure a data plane", "script": script, "problem": problem,
        "crumbs": [("Data Plane Nodes", "/runtime")],
    }, section="runtime")


routes = [
    Route("/runtime", runtime_page),
    Route("/runtime/nodes", runtime_rows),
    Route("/runtime/configure", configure),
]
