"""Overview: how much is configured, how many data planes run, and whether the control plane is healthy."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oidcgate.controlplane.gui.admin_client import AdminError
from oidcgate.controlplane.gui.pages.runtime import SYNC_BADGES, data_planes
from oidcgate.controlplane.gui.web import admin, render

COUNTED = (("services", "Gateway Services", "/services"), ("routes", "Routes", "/routes"),
           ("consumers", "Consumers", "/consumers"), ("plugins", "Plugins", "/plugins"))


async def overview(request: Request) -> Response:
    client = admin(request)
    lists = await asyncio.gather(*(client.list_all(f"/{kind}") for kind, _, _ in COUNTED))
    nodes = await data_planes(client)
    info = await client.get("/")
    try:
        status: dict[str, Any] | None = await client.get("/status")
    except AdminError as exc:
        if exc.status >= 500 or exc.status in (401, 403):
            status = None  # GET /status failing is exactly what the health card must show
        else:
            raise
    counts = [(label, len(items), href) for (_, label, href), items in zip(COUNTED, lists, strict=True)]
    counts.append(("Data Plane Nodes", len(nodes), "/runtime"))
    in_sync = sum(1 for n in nodes if n.get("sync_status") == "normal")
    return render(request, "overview.html", {
        "title": "Overview", "counts": counts, "status": status, "info": info, "nodes": nodes,
        "in_sync": in_sync, "badges": SYNC_BADGES,
    }, section="overview")


routes = [Route("/", overview)]
