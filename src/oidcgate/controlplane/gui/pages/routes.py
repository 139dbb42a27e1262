"""Routes: all routes, a route with its plugins, and the route forms (a route may belong to a service)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oidcgate.controlplane.gui.admin_client import AdminClient, segment
from oidcgate.controlplane.gui.entity_forms import ROUTE_FIELDS
from oidcgate.controlplane.gui.forms import FormValues
from oidcgate.controlplane.gui.pages.analytics import panel
from oidcgate.controlplane.gui.pages.editing import FormState, Section, blank_form, delete_entity, submit_form
from oidcgate.controlplane.gui.web import admin, form_values, redirect, render

SECTIONS = [Section(None, ROUTE_FIELDS)]


def ref_id(entity: Mapping[str, Any], kind: str) -> str | None:
    ref = entity.get(kind)
    return str(ref["id"]) if isinstance(ref, Mapping) and ref.get("id") else None


async def names_by_id(client: AdminClient, collection: str, key: str = "name") -> dict[str, str]:
    return {e["id"]: e.get(key) or e.get("custom_id") or e["id"] for e in await client.list_all(collection)}


async def route_list(request: Request) -> Response:
    client = admin(request)
    all_routes = await client.list_all("/routes")
    all_routes.sort(key=lambda r: (r.get("name") or r["id"]).lower())
    return render(request, "routes/list.html", {
        "title": "Routes", "routes": all_routes, "services": await names_by_id(client, "/services"),
        "ref_id": ref_id,
    }, section="routes")


async def _show(request: Request, route_id: str, *, error: str | None = None, status: int = 200) -> Response:
    client = admin(request)
    route = await client.get(f"/routes/{segment(route_id)}")
    service_id = ref_id(route, "service")
    service = await client.get(f"/services/{segment(service_id)}") if service_id else None
    plugins = await client.list_all(f"/routes/{segment(route['id'])}/plugins")
    names = {route["id"]: route.get("name") or route["id"]}
    if service:
        names[service["id"]] = service.get("name") or service["id"]
    return render(request, "routes/detail.html", {
        "title": route.get("name") or route["id"], "route": route, "service": service, "plugins": plugins,
        "scope_names": names, "error": error, "return_to": f"/routes/{route['id']}",
        "analytics": await panel(request, route=route["id"]),
    }, section="routes", status=status)


async def route_detail(request: Request) -> Response:
    return await _show(request, request.path_params["id"])


async def _form_page(request: Request, state: FormState, *, route: Mapping[str, Any] | None,
                     service_id: str | None) -> Response:
    services = await names_by_id(admin(request), "/services")
    name = str(route.get("name") or route["id"]) if route else ""
    back = f"/routes/{route['id']}" if route else (f"/services/{service_id}" if service_id else "/routes")
    crumbs = ([("Gateway Services", "/services"), (services.get(service_id, service_id), f"/services/{service_id}")]
              if service_id and not route else [("Routes", "/routes")])
    if route:
        crumbs.append((name, f"/routes/{route['id']}"))
    return render(request, "routes/form.html", {
        "title": f"Edit {name}" if route else "New route", "state": state,
        "action": f"/routes/{route['id']}/edit" if route else "/routes/new",
        "cancel": back, "submit": "Save" if route else "Create", "crumbs": crumbs,
        "service_options": sorted(services.items(), key=lambda item: item[1].lower()),
        "service_id": service_id,
    }, section="routes", status=400 if state.errors else 200)


def _service_ref(form: FormValues) -> dict[str, Any]:
    chosen = form.first("service") or ""
    return {"service": {"id": chosen} if chosen else None}


async def route_new(request: Request) -> Response:
    if request.method == "GET":
        return await _form_page(request, blank_form(SECTIONS), route=None,
                                service_id=request.query_params.get("service") or None)
    form = await form_values(request)
    state = await submit_form(SECTIONS, form, lambda body: admin(request).create("/routes", body),
                              extra=_service_ref(form))
    if state.saved is not None:
        service_id = ref_id(state.saved, "service")
        return redirect(f"/services/{service_id}" if service_id else f"/routes/{state.saved['id']}", "created")
    return await _form_page(request, state, route=None, service_id=form.first("service") or None)


async def route_edit(request: Request) -> Response:
    client = admin(request)
    route = await client.get(f"/routes/{segment(request.path_params['id'])}")
    if request.method == "GET":
        return await _form_page(request, blank_form(SECTIONS, route), route=route,
                                service_id=ref_id(route, "service"))
    form = await form_values(request)
    path = f"/routes/{segment(route['id'])}"
    state = await submit_form(SECTIONS, form, lambda body: client.replace(path, body), stored=route,
                              extra=_service_ref(form))
    if state.saved is not None:
        return redirect(f"/routes/{route['id']}", "saved")
    return await _form_page(request, state, route=route, service_id=form.first("service") or None)


async def route_delete(request: Request) -> Response:
    route_id = request.path_params["id"]
    client = admin(request)
    route = await client.get(f"/routes/{segment(route_id)}")
    service_id = ref_id(route, "service")

    async def refused(message: str, status: int) -> Response:
        return await _show(request, route_id, error=message, status=status)

    return await delete_entity(request, f"/routes/{segment(route['id'])}", refused,
                               f"/services/{service_id}" if service_id else "/routes")


routes = [
    Route("/routes", route_list),
    Route("/routes/new", route_new, methods=["GET", "POST"]),
    Route("/routes/{id}", route_detail),
    Route("/routes/{id}/edit", route_edit, methods=["GET", "POST"]),
    Route("/routes/{id}/delete", route_delete, methods=["POST"]),
]
