"""Consumer groups: list, create, a group with its members and plugins, members added and removed, delete.

Memberships go through Kong's `/consumer_groups/{group}/consumers`, so the Admin API's rules (a consumer
is in a group once, both must exist) hold here as well.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oidcgate.controlplane.gui.admin_client import AdminError, segment
from oidcgate.controlplane.gui.entity_forms import CONSUMER_GROUP_FIELDS
from oidcgate.controlplane.gui.pages.consumers import display_name
from oidcgate.controlplane.gui.pages.editing import Section, creation_page, delete_entity, deletion
from oidcgate.controlplane.gui.web import admin, form_values, redirect, render

SECTIONS = [Section(None, CONSUMER_GROUP_FIELDS)]


async def group_list(request: Request) -> Response:
    groups = await admin(request).list_all("/consumer_groups")
    groups.sort(key=lambda g: str(g["name"]).lower())
    return render(request, "consumer_groups/list.html", {"title": "Consumer Groups", "groups": groups},
                  section="consumer_groups")


async def _show(request: Request, group_id: str, *, error: str | None = None, status: int = 200) -> Response:
    client = admin(request)
    group = await client.get(f"/consumer_groups/{segment(group_id)}")
    path = f"/consumer_groups/{segment(group['id'])}"
    members = await client.list_all(f"{path}/consumers")
    members.sort(key=lambda c: display_name(c).lower())
    inside = {member["id"] for member in members}
    candidates = [c for c in await client.list_all("/consumers") if c["id"] not in inside]
    candidates.sort(key=lambda c: display_name(c).lower())
    return render(request, "consumer_groups/detail.html", {
        "title": group["name"], "group": group, "members": members, "candidates": candidates,
        "display_name": display_name, "plugins": await client.list_all(f"{path}/plugins"),
        "scope_names": {group["id"]: group["name"]}, "error": error, "return_to": f"/consumer_groups/{group['id']}",
    }, section="consumer_groups", status=status)


async def group_detail(request: Request) -> Response:
    return await _show(request, request.path_params["id"])


group_new = creation_page("consumer_groups", "consumer group", "Consumer Groups", SECTIONS)
group_delete = deletion("consumer_groups", _show)


async def member_add(request: Request) -> Response:
    group_id = request.path_params["id"]
    consumer = (await form_values(request)).first("consumer") or ""
    try:
        await admin(request).create(f"/consumer_groups/{segment(group_id)}/consumers", {"consumer": consumer})
    except AdminError as exc:
        if exc.status not in (400, 404, 409):
            raise
        message = "Choose a consumer to add." if not consumer else f"Not added: {exc.message}"
        return await _show(request, group_id, error=message, status=400 if exc.status == 404 else exc.status)
    return redirect(f"/consumer_groups/{group_id}", "added")


async def member_remove(request: Request) -> Response:
    group_id = request.path_params["id"]

    async def refused(message: str, status: int) -> Response:
        return await _show(request, group_id, error=message, status=status)

    path = f"/consumer_groups/{segment(group_id)}/consumers/{segment(request.path_params['consumer'])}"
    return await delete_entity(request, path, refused, f"/consumer_groups/{group_id}", done="removed")


routes = [
    Route("/consumer_groups", group_list),
    Route("/consumer_groups/new", group_new, methods=["GET", "POST"]),
    Route("/consumer_groups/{id}", group_detail),
    Route("/consumer_groups/{id}/delete", group_delete, methods=["POST"]),
    Route("/consumer_groups/{id}/members", member_add, methods=["POST"]),
    Route("/consumer_groups/{id}/members/{consumer}/delete", member_remove, methods=["POST"]),
]
