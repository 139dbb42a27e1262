"""Gateway Services: the service hub (list with search, a service with its routes and plugins, forms)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oidcgate.controlplane.gui.admin_client import segment
from oidcgate.controlplane.gui.entity_forms import SERVICE_FIELDS
from oidcgate.controlplane.gui.pages.analytics import panel
from oidcgate.controlplane.gui.pages.editing import FormState, Section, blank_form, delete_entity, submit_form
from oidcgate.controlplane.gui.web import admin, form_values, redirect, render

SECTIONS = [Section(None, SERVICE_FIELDS)]


def matches(service: Mapping[str, Any], query: str) -> bool:
    """Search over what the list shows: name, host, path, protocol and tags, case-insensitive."""
    haystack = [service.get("name"), service.get("host"), service.get("path"), service.get("protocol"),
                *(service.get("tags") or ())]
    return any(query in str(value).lower() for value in haystack if value)


def service_url(service: Mapping[str, Any]) -> str:
    port = service.get("port")
    default = {"http": 80, "https": 443}.get(str(service.get("protocol")))
    authority = service.get("host", "") + ("" if port in (None, default) else f":{port}")
    return f"{service.get('protocol', 'http')}://{authority}{service.get('path') or ''}"


async def service_list(request: Request) -> Response:
    services = await admin(request).list_all("/services")
    query = request.query_params.get("q", "").strip()
    shown = [s for s in services if matches(s, query.lower())] if query else services
    shown.sort(key=lambda s: (s.get("name") or s["id"]).lower())
    return render(request, "services/list.html", {
        "title": "Gateway Services", "services": shown, "total": len(services), "query": query,
        "service_url": service_url,
    }, section="services")


async def _show(request: Request, service_id: str, *, error: str | None = None, status: int = 200) -> Response:
    client = admin(request)
    service = await client.get(f"/services/{segment(service_id)}")
    routes = await client.list_all(f"/services/{segment(service['id'])}/routes")
    plugins = await client.list_all(f"/services/{segment(service['id'])}/plugins")
    routes.sort(key=lambda r: (r.get("name") or r["id"]).lower())
    return render(request, "services/detail.html", {
        "title": service.get("name") or service["id"], "service": service, "routes": routes, "plugins": plugins,
        "scope_names": {service["id"]: service.get("name") or service["id"]}, "service_url": service_url,
        "error": error, "return_to": f"/services/{service['id']}",
        "analytics": await panel(request, service=service["id"]),
    }, section="services", status=status)


async def service_detail(request: Request) -> Response:
    return await _show(request, request.path_params["id"])


def _form_page(request: Request, state: FormState, *, service: Mapping[str, Any] | None) -> Response:
    editing = service is not None
    title = f"Edit {service.get('name') or service['id']}" if service is not None else "New gateway service"
    return render(request, "form.html", {
        "title": title, "state": state,
        "action": f"/services/{service['id']}/edit" if service is not None else "/services/new",
        "cancel": f"/services/{service['id']}" if service is not None else "/services",
        "submit": "Save" if editing else "Create",
        "crumbs": [("Gateway Services", "/services"),
                   *([(service.get("name") or service["id"], f"/services/{service['id']}")] if service else [])],
    }, section="services", status=400 if state.errors else 200)


async def service_new(request: Request) -> Response:
    if request.method == "GET":
        return _form_page(request, blank_form(SECTIONS), service=None)
    state = await submit_form(SECTIONS, await form_values(request),
                              lambda body: admin(request).create("/services", body))
    if state.saved is not None:
        return redirect(f"/services/{state.saved['id']}", "created")
    return _form_page(request, state, service=None)


async def service_edit(request: Request) -> Response:
    client = admin(request)
    service = await client.get(f"/services/{segment(request.path_params['id'])}")
    if request.method == "GET":
        return _form_page(request, blank_form(SECTIONS, service), service=service)
    path = f"/services/{segment(service['id'])}"
    state = await submit_form(SECTIONS, await form_values(request), lambda body: client.replace(path, body),
                              stored=service)
    if state.saved is not None:
        return redirect(f"/services/{service['id']}", "saved")
    return _form_page(request, state, service=service)


async def service_delete(request: Request) -> Response:
    service_id = request.path_params["id"]

    async def refused(message: str, status: int) -> Response:  # e.g. routes still use it, as in Kong
        return await _show(request, service_id, error=message, status=status)

    return await delete_entity(request, f"/services/{segment(service_id)}", refused, "/services")


routes = [
    Route("/services", service_list),
    Route("/services/new", service_new, methods=["GET", "POST"]),
    Route("/services/{id}", service_detail),
    Route("/services/{id}/edit", service_edit, methods=["GET", "POST"]),
    Route("/services/{id}/delete", service_delete, methods=["POST"]),
]
