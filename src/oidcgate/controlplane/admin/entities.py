"""CRUD endpoints generated from the entity schemas (Kong's kong/api/endpoints.lua).

Every collection gets `GET`/`POST` on `/{kind}` and `GET`/`PUT`/`PATCH`/`DELETE` on `/{kind}/{id or
key}`; nested collections (`/services/{service}/routes`, `/consumers/{consumer}/plugins`, ...) do
the same inside their parent, which the URL names by id or endpoint key.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oidcgate.controlplane.admin.bodies import entity_body
from oidcgate.controlplane.admin.responses import JSON, present
from oidcgate.controlplane.errors import InvalidOptions, NotFound
from oidcgate.controlplane.pagination import parse_size
from oidcgate.controlplane.store import Entity, Scope, Store

T = TypeVar("T")

TOP_LEVEL = ("services", "routes", "consumers", "plugins", "upstreams", "consumer_groups", "acls", "certificates",
             "snis", "ca_certificates")
# (parent kind, child kind, the child's reference to the parent)
NESTED: tuple[tuple[str, str, str], ...] = (
    ("services", "routes", "service"),
    ("services", "plugins", "service"),
    ("routes", "plugins", "route"),
    ("consumers", "plugins", "consumer"),
    ("consumers", "acls", "consumer"),
    ("consumer_groups", "plugins", "consumer_group"),
    ("upstreams", "targets", "upstream"),
    ("certificates", "snis", "certificate"),
)
MAX_TAGS = 5  # as in Kong


@dataclass(frozen=True)
class Collection:
    kind: str
    parent: tuple[str, str] | None = None  # (parent kind, reference field)

    @property
    def path(self) -> str:
        return f"/{self.parent[0]}/{{parent}}/{self.kind}" if self.parent else f"/{self.kind}"


COLLECTIONS: tuple[Collection, ...] = (
    *(Collection(kind) for kind in TOP_LEVEL),
    *(Collection(kind, (parent, ref)) for parent, kind, ref in NESTED),
)


async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a store call in a worker thread."""
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))


def parse_tags(raw: str | None) -> tuple[list[str], bool]:
    """Kong's tag filter: `a,b` needs every tag, `a/b` any of them; mixing both is an error."""
    if raw is None:
        return [], False
    if "," in raw and "/" in raw:
        raise InvalidOptions("tags", "invalid filter: tags cannot mix 'and' ('a,b') with 'or' ('a/b')")
    any_tag = "/" in raw
    tags = raw.split("/" if any_tag else ",")
    if not all(tags):
        raise InvalidOptions("tags", "invalid filter: empty tag")
    if len(tags) > MAX_TAGS:
        raise InvalidOptions("tags", f"cannot query more than {MAX_TAGS} tags")
    return tags, any_tag


class Endpoints:
    """The handlers of one collection (top-level or nested)."""

    def __init__(self, store: Store, collection: Collection) -> None:
        self.store = store
        self.kind = collection.kind
        self.parent = collection.parent

    def routes(self) -> list[Route]:
        base = Collection(self.kind, self.parent).path
        return [Route(base, self.collection, methods=["GET", "POST"]),
                Route(base + "/{key}", self.item, methods=["GET", "PUT", "PATCH", "DELETE"])]

    async def scope(self, request: Request) -> Scope | None:
        if self.parent is None:
            return None
        parent_kind, ref = self.parent
        parent = await run(self.store.get, parent_kind, request.path_params["parent"])
        return {ref: parent["id"]}

    async def shown(self, entities: list[Entity]) -> list[Entity]:
        """Entities as the API answers with them (a subclass adds pseudo-fields, e.g. certificates' `snis`)."""
        return [present(self.kind, e) for e in entities]

    async def collection(self, request: Request) -> Response:
        scope = await self.scope(request)
        if request.method == "POST":
            body = await entity_body(request, self.kind)
            return JSON(present(self.kind, await run(self.store.create, self.kind, body, scope)), 201)
        return await self.page(request, scope)

    async def page(self, request: Request, scope: Scope | None) -> Response:
        params = request.query_params
        size = parse_size(params.get("size"))
        tags, any_tag = parse_tags(params.get("tags"))
        where = {f"{ref}_id": parent for ref, parent in (scope or {}).items()}
        if self.kind == "consumers" and "custom_id" in params:
            where["custom_id"] = params["custom_id"]
        page = await run(self.store.page, self.kind, size=size, offset=params.get("offset"),
                         tags=tags, any_tag=any_tag, where=where)
        body: dict[str, Any] = {"data": await self.shown(page.data), "next": None}
        if page.next_offset is not None:
            query = {k: v for k, v in params.items() if k != "offset"}
            body["next"] = f"{request.url.path}?{urlencode({**query, 'offset': page.next_offset})}"
            body["offset"] = page.next_offset
        return JSON(body)

    async def item(self, request: Request) -> Response:
        scope = await self.scope(request)
        key = request.path_params["key"]
        if request.method == "GET":
            return JSON((await self.shown([await run(self.store.get, self.kind, key, scope)]))[0])
        if request.method == "DELETE":
            await run(self.store.delete, self.kind, key, scope)
            return Response(status_code=204)
        if request.method == "PUT":
            body = await entity_body(request, self.kind)
            return JSON(present(self.kind, await run(self.store.upsert, self.kind, key, body, scope)))
        plugin_name = None
        if self.kind == "plugins":  # a PATCHed config is typed by the plugin's own schema
            plugin_name = (await run(self.store.get, self.kind, key, scope))["name"]
        body = await entity_body(request, self.kind, plugin_name)
        return JSON(present(self.kind, await run(self.store.update, self.kind, key, body, scope)))


def routes(store: Store, special: Mapping[Collection, type[Endpoints]] | None = None) -> list[Route]:
    """Every collection's routes; `special` gives some collections handlers of their own."""
    found: list[Route] = []
    for collection in COLLECTIONS:
        found += (special or {}).get(collection, Endpoints)(store, collection).routes()

    async def route_service(request: Request) -> Response:
        route = await run(store.get, "routes", request.path_params["key"])
        if route.get("service") is None:
            raise NotFound()
        return JSON(present("services", await run(store.get, "services", route["service"])))

    found.append(Route("/routes/{key}/service", route_service, methods=["GET"]))
    return found
