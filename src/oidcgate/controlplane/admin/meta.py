"""Node information and schemas: `GET /`, `GET /status`, `/schemas/...`, `GET /openapi.json`."""

from __future__ import annotations

import os
import resource
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oidcgate import __version__
from oidcgate.config.entities import ENTITY_MODELS
from oidcgate.controlplane.admin import openapi
from oidcgate.controlplane.admin.bodies import entity_body
from oidcgate.controlplane.admin.context import AdminContext
from oidcgate.controlplane.admin.entities import run
from oidcgate.controlplane.admin.responses import JSON
from oidcgate.controlplane.admin.schemas import kong_entity_schema
from oidcgate.controlplane.errors import NotFound
from oidcgate.controlplane.store import validate_entity
from oidcgate.plugins import registry

VALID = {"message": "schema validation successful"}


def _memory() -> dict[str, Any]:
    rss = 0
    try:
        with open("/proc/self/statm") as statm:
            rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"pid": os.getpid(), "rss_bytes": rss, "rss": f"{rss / 2**20:.2f} MiB"}


def routes(ctx: AdminContext) -> list[Route]:
    store = ctx.store

    async def root(request: Request) -> Response:
        available = {name: {"version": handler.VERSION, "priority": handler.PRIORITY}
                     for name, handler in sorted(registry.available().items())}
        return JSON({
            "version": __version__,
            "edition": "community",
            "tagline": "Welcome to oidcgate",
            "hostname": ctx.hostname,
            "node_id": ctx.node_id,
            "plugins": {"available_on_server": available,
                        "enabled_in_cluster": await run(store.plugin_names_in_use)},
            "configuration": {"role": "control_plane", "database": store.backend, **ctx.configuration},
        })

    async def status(request: Request) -> Response:
        reachable = await run(store.ping)
        body: dict[str, Any] = {"database": {"reachable": reachable}, "memory": _memory(),
                                "server": {"uptime_seconds": int(time.time() - ctx.started_at)}}
        if reachable:
            body["config_version"] = await run(store.version)
            try:
                body["configuration_hash"] = (await run(store.export))[1]
            except Exception:  # an unloadable database is reported, not raised
                body["configuration_hash"] = None
        return JSON(body, 200 if reachable else 503)

    async def entity_schema(request: Request) -> Response:
        kind = request.path_params["entity"]
        if kind not in ENTITY_MODELS:
            raise NotFound()
        return JSON(kong_entity_schema(kind))

    async def plugin_schema(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            return JSON(kong_entity_schema("plugins", name))
        except registry.UnknownPluginError:
            raise NotFound(f"No plugin named '{name}'") from None

    async def validate(request: Request) -> Response:
        kind = request.path_params.get("entity", "plugins")
        if kind not in ENTITY_MODELS:
            raise NotFound()
        body = await entity_body(request, kind)
        await run(validate_entity, kind, body)
        return JSON(VALID)

    async def openapi_document(request: Request) -> Response:
        return JSON(openapi.document())

    return [
        Route("/", root, methods=["GET"]),
        Route("/status", status, methods=["GET"]),
        Route("/schemas/plugins/validate", validate, methods=["POST"]),
        Route("/schemas/plugins/{name}", plugin_schema, methods=["GET"]),
        Route("/schemas/{entity}/validate", validate, methods=["POST"]),
        Route("/schemas/{entity}", entity_schema, methods=["GET"]),
        Route("/openapi.json", openapi_document, methods=["GET"]),
    ]

