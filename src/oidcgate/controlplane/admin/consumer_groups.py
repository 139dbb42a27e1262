"""Consumer group membership, both ways (Kong's `/consumer_groups/{group}/consumers` and
`/consumers/{consumer}/consumer_groups`).

A membership is a `consumer_group_consumers` entity, so it is validated, stored, exported and pushed like
any other; these endpoints only show it as Kong does: the consumers of a group, the groups of a consumer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oidcgate.config.errors import FieldError
from oidcgate.controlplane.admin.bodies import entity_body
from oidcgate.controlplane.admin.entities import run
from oidcgate.controlplane.admin.responses import JSON, present
from oidcgate.controlplane.errors import NotFound, SchemaViolation
from oidcgate.controlplane.pagination import parse_size
from oidcgate.controlplane.store import Store

KIND = "consumer_group_consumers"


@dataclass(frozen=True)
class Side:
    """One way of looking at memberships: from `kind` (named in the URL) to the `other` kind it lists."""

    kind: str  # "consumer_groups" or "consumers"
    ref: str  # this side's field in a membership
    other: str  # the listed kind
    other_ref: str  # the listed side's field in a membership
    body_field: str  # what a POST names the other side with (Kong's names)

    @property
    def path(self) -> str:
        return f"/{self.kind}/{{key}}/{self.other}"


SIDES = (Side("consumer_groups", "consumer_group", "consumers", "consumer", "consumer"),
         Side("consumers", "consumer", "consumer_groups", "consumer_group", "group"))


def _names(body: dict[str, Any], field: str) -> list[str]:
    value = body.get(field)
    values = value if isinstance(value, list) else [value]
    names = [v for v in values if isinstance(v, str) and v]
    if value is None or not values or len(names) != len(values):
        message = "required field missing" if value is None else "expected a name or id, or a list of them"
        raise SchemaViolation([FieldError(field, message)])
    return names


class Memberships:
    def __init__(self, store: Store, side: Side) -> None:
        self.store = store
        self.side = side

    def routes(self) -> list[Route]:
        return [Route(self.side.path, self.collection, methods=["GET", "POST"]),
                Route(self.side.path + "/{other}", self.item, methods=["DELETE"])]

    async def collection(self, request: Request) -> Response:
        side = self.side
        owner = await run(self.store.get, side.kind, request.path_params["key"])
        if request.method == "POST":
            added = []
            for name in _names(await entity_body(request, KIND), side.body_field):
                membership = await run(self.store.create, KIND, {side.other_ref: name}, {side.ref: owner["id"]})
                added.append(present(side.other, await run(self.store.get, side.other, membership[side.other_ref])))
            return JSON({side.ref: present(side.kind, owner), side.other: added}, 201)
        params = request.query_params
        page = await run(self.store.page, KIND, size=parse_size(params.get("size")), offset=params.get("offset"),
                         where={f"{side.ref}_id": owner["id"]})
        data = [present(side.other, await run(self.store.get, side.other, m[side.other_ref])) for m in page.data]
        body: dict[str, Any] = {"data": data, "next": None}
        if page.next_offset is not None:
            query = {k: v for k, v in params.items() if k != "offset"}
            body["next"] = f"{request.url.path}?{urlencode({**query, 'offset': page.next_offset})}"
            body["offset"] = page.next_offset
        return JSON(body)

    async def item(self, request: Request) -> Response:
        side = self.side
        owner = await run(self.store.get, side.kind, request.path_params["key"])
        other = await run(self.store.get, side.other, request.path_params["other"])
        page = await run(self.store.page, KIND, size=1,
                         where={f"{side.ref}_id": owner["id"], f"{side.other_ref}_id": other["id"]})
        if not page.data:
            raise NotFound()
        await run(self.store.delete, KIND, page.data[0]["id"])
        return Response(status_code=204)


def routes(store: Store) -> list[Route]:
    return [route for side in SIDES for route in Memberships(store, side).routes()]
