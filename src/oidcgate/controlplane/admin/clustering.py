"""The runtime manager: `/clustering/data-planes`, `/clustering/status`, `/clustering/runtime-script`."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from oidcgate.controlplane.admin.context import AdminContext
from oidcgate.controlplane.admin.entities import run
from oidcgate.controlplane.admin.responses import JSON
from oidcgate.controlplane.errors import NotFound
from oidcgate.controlplane.pagination import parse_size
from oidcgate.controlplane.store import DATA_PLANE_PURGE_SECONDS

HYBRID_OFF = "hybrid mode is off on this control plane: start it with a cluster certificate"


def _shown(row: dict[str, Any], now: float) -> dict[str, Any]:
    return {**row, "ttl": max(0, int(row["last_seen"] + DATA_PLANE_PURGE_SECONDS - now))}


def routes(ctx: AdminContext) -> list[Route]:
    store = ctx.store

    async def data_planes(request: Request) -> Response:
        size = parse_size(request.query_params.get("size"))
        page = await run(store.data_planes, size=size, offset=request.query_params.get("offset"))
        now = time.time()
        body: dict[str, Any] = {"data": [_shown(row, now) for row in page.data], "next": None}
        if page.next_offset is not None:
            body["next"] = f"{request.url.path}?size={size}&offset={page.next_offset}"
            body["offset"] = page.next_offset
        return JSON(body)

    async def status(request: Request) -> Response:
        _, config_hash = await run(store.export)
        rows = (await run(store.data_planes, size=1000)).data
        return JSON({
            "role": "control_plane",
            "hybrid": ctx.runtime_script is not None,
            "cluster_listen": ctx.configuration.get("cluster_listen"),
            "config_version": await run(store.version),
            "config_hash": config_hash,
            "data_planes": {"total": len(rows),
                            "in_sync": sum(row["config_hash"] == config_hash for row in rows)},
        })

    async def runtime_script(request: Request) -> Response:
        if ctx.runtime_script is None:
            raise NotFound(HYBRID_OFF)
        return PlainTextResponse(await run(ctx.runtime_script), media_type="text/x-shellscript",
                                 headers={"Cache-Control": "no-store"})

    return [
        Route("/clustering/data-planes", data_planes, methods=["GET"]),
        Route("/clustering/status", status, methods=["GET"]),
        Route("/clustering/runtime-script", runtime_script, methods=["GET"]),
    ]
