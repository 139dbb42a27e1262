"""Consumers: list, create, a consumer with its consumer groups, ACL credentials and plugins, delete; ACL
credentials added and removed (Kong's `/consumers/{consumer}/acls`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oidcgate.controlplane.gui.admin_client import AdminError, segment
from oidcgate.controlplane.gui.entity_forms import CONSUMER_FIELDS
from oidcgate.controlplane.gui.pages.analytics import panel
from oidcgate.controlplane.gui.pages.editing import Section, creation_page, delete_entity, deletion
from oidcgate.controlplane.gui.web import admin, form_values, redirect, render

SECTIONS = [Section(None, CONSUMER_FIELDS)]


def display_name(consumer: dict[str, str]) -> str:
    return consumer.get("username") or consumer.get("custom_id") or consumer["id"]


async def consumer_list(request: Request) -> Response:
    consumers = await admin(request).list_all("/consumers")
    consumers.sort(key=lambda c: display_name(c).lower())
    return render(request, "consumers/list.html", {"title": "Consumers", "consumers": consumers},
                  section="consumers")


async def _show(request: Request, consumer_id: str, *, error: str | None = None, status: int = 200) -> Response:
    client = admin(request)
    consumer = await client.get(f"/consumers/{segment(consumer_id)}")
    path = f"/consumers/{segment(consumer['id'])}"
    plugins = await client.list_all(f"{path}/plugins")
    groups = sorted(await client.list_all(f"{path}/consumer_groups"), key=lambda g: str(g["name"]).lower())
    acls = sorted(await client.list_all(f"{path}/acls"), key=lambda a: str(a["group"]).lower())
    return render(request, "consumers/detail.html", {
        "title": display_name(consumer), "consumer": consumer, "plugins": plugins, "groups": groups, "acls": acls,
        "scope_names": {consumer["id"]: display_name(consumer)}, "error": error,
        "return_to": f"/consumers/{consumer['id']}",
        "analytics": await panel(request, consumer=consumer["id"]),
    }, section="consumers", status=status)


async def consumer_detail(request: Request) -> Response:
    return await _show(request, request.path_params["id"])


consumer_new = creation_page("consumers", "consumer", "Consumers", SECTIONS)
consumer_delete = deletion("consumers", _show)


async def acl_add(request: Request) -> Response:
    consumer_id = request.path_params["id"]
    group = (await form_values(request)).first("group") or ""
    try:
        await admin(request).create(f"/consumers/{segment(consumer_id)}/acls", {"group": group})
    except AdminError as exc:
        if exc.status not in (400, 409):
            raise
        return await _show(request, consumer_id, error=f"Not added: {exc.message}", status=exc.status)
    return redirect(f"/consumers/{consumer_id}", "added")


async def acl_delete(request: Request) -> Response:
    consumer_id = request.path_params["id"]

    async def refused(message: str, status: int) -> Response:
        return await _show(request, consumer_id, error=message, status=status)

    path = f"/consumers/{segment(consumer_id)}/acls/{segment(request.path_params['acl'])}"
    return await delete_entity(request, path, refused, f"/consumers/{consumer_id}", done="removed")


routes = [
    Route("/consumers", consumer_list),
    Route("/consumers/new", consumer_new, methods=["GET", "POST"]),
    Route("/consumers/{id}", consumer_detail),
    Route("/consumers/{id}/delete", consumer_delete, methods=["POST"]),
    Route("/consumers/{id}/acls", acl_add, methods=["POST"]),
    Route("/consumers/{id}/acls/{acl}/delete", acl_delete, methods=["POST"]),
]
