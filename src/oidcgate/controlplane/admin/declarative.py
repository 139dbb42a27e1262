"""`GET /config` exports the configuration as kong.yml (or JSON); `POST /config` replaces all of it."""

from __future__ import annotations

import yaml
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oidcgate.controlplane.admin.bodies import config_body
from oidcgate.controlplane.admin.entities import run
from oidcgate.controlplane.admin.responses import JSON
from oidcgate.controlplane.store import Store

YAML_MEDIA_TYPE = "application/yaml"


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "").lower()
    return "json" in accept and "yaml" not in accept


def routes(store: Store) -> list[Route]:
    async def config(request: Request) -> Response:
        if request.method == "POST":
            document = await config_body(request)
            snapshot = await run(store.replace_all, document)
            return JSON({"message": "configuration replaced", "entities": snapshot.counts,
                         "config_version": await run(store.version)}, 201)
        document, config_hash = await run(store.export)
        headers = {"X-Config-Hash": config_hash}
        if wants_json(request):
            return JSON(document, headers=headers)
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
        return Response(text, media_type=YAML_MEDIA_TYPE, headers=headers)

    return [Route("/config", config, methods=["GET", "POST"])]
