"""Overview: how much is configured, how many data planes run, and whether the control plane is healthy."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oidcgate.controlplane.gui.admin_client import AdminClient, AdminError
from oidcgate.controlplane.gui.pages.runtime import data_planes
from oidcgate.controlplane.gui.web import admin, render

COUNTED = (("services", "Gateway Services", "/services"), ("routes", "Routes", "/routes"),
           ("consumers", "Consumers", "/consumers"), ("plugins", "Plugins", "/plugins"))


async def health(client: AdminClient) -> dict[str, Any] | None:
    """GET /status, also when it answers 503 (database unreachable); None when it fails otherwise."""
    try:
        status: dict[str, Any] = await client.get("/status")
    except AdminError as exc:
        return exc.body if exc.status == 503 and isinstance(exc.body, dict) else None
    return status


async def overview(request: Request) -> Response:
    client = admin(request)
    status = await health(client)
    context: dict[str, Any] = {"title": "Overview", "status": status, "info": {}, "counts": None, "nodes": [],
                               "in_sync": 0}
    try:
        lists = await asyncio.gather(*(client.list_all(f"/{kind}") for kind, _, _ in COUNTED))
        nodes = await data_planes(client)
        context["info"] = await client.get("/")
    except AdminError as exc:
        if exc.status < 500:
            raise
        context["error"] = f"The Admin API cannot list the configuration: {exc.message}"
    else:
        counts = [(label, len(items), href) for (_, label, href), items in zip(COUNTED, lists, strict=True)]
        counts.append(("Data Plane Nodes", len(nodes), "/runtime"))
        context.update(counts=counts, nodes=nodes, in_sync=sum(n.get("sync_status") == "normal" for n in nodes))
    return render(request, "overview.html", context, section="overview")


routes = [Route("/", overview)]
