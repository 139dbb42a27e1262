"""Plugins: every plugin with its scope, the catalogue of available plugins, schema-generated forms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oidcgate.controlplane.gui.admin_client import segment
from oidcgate.controlplane.gui.entity_forms import (
    PLUGIN_COMMON_FIELDS,
    plugin_config_fields,
    plugin_description,
)
from oidcgate.controlplane.gui.forms import FormValues, label
from oidcgate.controlplane.gui.pages.editing import FormState, Section, blank_form, delete_entity, submit_form
from oidcgate.controlplane.gui.pages.routes import names_by_id, ref_id
from oidcgate.controlplane.gui.web import SCOPES, admin, form_values, local_path, redirect, render
from oidcgate.plugins import registry


def sections(name: str) -> list[Section]:
    try:
        config = plugin_config_fields(name)
    except registry.UnknownPluginError:
        raise HTTPException(404, f"No plugin named {name!r} is installed.") from None
    return [Section("Configuration", config), Section("Plugin settings", PLUGIN_COMMON_FIELDS)]


def scope_query(scope: Mapping[str, str | None]) -> str:
    chosen = [f"{kind}={segment(value)}" for kind, value in scope.items() if value]
    return "?" + "&".join(chosen) if chosen else ""


def requested_scope(values: Mapping[str, str] | FormValues) -> dict[str, str | None]:
    get = values.first if isinstance(values, FormValues) else values.get
    return {kind: (get(kind) or None) for kind in SCOPES}


async def scope_names(request: Request) -> dict[str, dict[str, str]]:
    """Display names of everything a plugin can be scoped to, by kind and id."""
    client = admin(request)
    return {
        "service": await names_by_id(client, "/services"),
        "route": await names_by_id(client, "/routes"),
        "consumer": await names_by_id(client, "/consumers", key="username"),
        "consumer_group": await names_by_id(client, "/consumer_groups"),
    }


def return_path(scope: Mapping[str, str | None]) -> str:
    for kind in SCOPES:
        if scope.get(kind):
            return f"/{kind}s/{scope[kind]}"
    return "/plugins"


async def plugin_list(request: Request) -> Response:
    plugins = await admin(request).list_all("/plugins")
    plugins.sort(key=lambda p: (p.get("name", ""), p.get("instance_name") or ""))
    names = await scope_names(request)
    flat = {ref: name for by_id in names.values() for ref, name in by_id.items()}
    return render(request, "plugins/list.html", {
        "title": "Plugins", "plugins": plugins, "scope_names": flat, "return_to": "/plugins",
    }, section="plugins")


async def catalogue(request: Request) -> Response:
    info = await admin(request).get("/")
    available = (info.get("plugins") or {}).get("available_on_server") or {}
    names = sorted(available if isinstance(available, (dict, list)) else [])
    installed = registry.available()
    scope = requested_scope(request.query_params)
    cards = [{"name": n, "title": label(n), "description": plugin_description(n),
              "version": getattr(installed.get(n), "VERSION", ""), "href": f"/plugins/new/{n}{scope_query(scope)}"}
             for n in names if n in installed]
    return render(request, "plugins/catalogue.html", {
        "title": "Add plugin", "cards": cards, "cancel": return_path(scope),
    }, section="plugins")


async def _form_page(request: Request, state: FormState, *, name: str, scope: Mapping[str, str | None],
                     plugin: Mapping[str, Any] | None, fixed_scope: bool) -> Response:
    names = await scope_names(request)
    scope_choices = [(kind, label(kind), sorted(names[kind].items(), key=lambda item: item[1].lower()),
                      scope.get(kind)) for kind in SCOPES]
    title = f"Edit {label(name)} plugin" if plugin else f"Add {label(name)} plugin"
    back = local_path(request.query_params.get("return_to"), return_path(scope))
    if plugin:
        action = f"/plugins/{plugin['id']}/edit?return_to={segment(back)}"
    else:
        action = f"/plugins/new/{name}" + (scope_query(scope) if fixed_scope else "")
    return render(request, "plugins/form.html", {
        "title": title, "state": state, "plugin_name": name, "description": plugin_description(name),
        "action": action, "cancel": back,
        "submit": "Save" if plugin else "Create", "crumbs": [("Plugins", "/plugins")],
        "scope_choices": scope_choices, "fixed_scope": fixed_scope,
        "scope_label": [(label(kind), names[kind].get(ref, ref)) for kind, ref in scope.items() if ref],
    }, section="plugins", status=400 if state.errors else 200)


def _scope_body(scope: Mapping[str, str | None]) -> dict[str, Any]:
    return {kind: ({"id": value} if value else None) for kind, value in scope.items()}


async def plugin_new(request: Request) -> Response:
    name = request.path_params["name"]
    form_sections = sections(name)
    from_page = requested_scope(request.query_params)
    fixed = any(from_page.values())  # opened from a service, route, consumer or consumer group page
    if request.method == "GET":
        return await _form_page(request, blank_form(form_sections), name=name, scope=from_page, plugin=None,
                                fixed_scope=fixed)
    form = await form_values(request)
    scope = from_page if fixed else requested_scope(form)
    state = await submit_form(form_sections, form, lambda body: admin(request).create("/plugins", body),
                              extra={"name": name, **_scope_body(scope)})
    if state.saved is not None:
        return redirect(return_path(scope), "created")
    return await _form_page(request, state, name=name, scope=scope, plugin=None, fixed_scope=fixed)


async def plugin_edit(request: Request) -> Response:
    client = admin(request)
    plugin = await client.get(f"/plugins/{segment(request.path_params['id'])}")
    name = plugin["name"]
    form_sections = sections(name)
    stored_scope = {kind: ref_id(plugin, kind) for kind in SCOPES}
    if request.method == "GET":
        return await _form_page(request, blank_form(form_sections, plugin), name=name, scope=stored_scope,
                                plugin=plugin, fixed_scope=False)
    form = await form_values(request)
    scope = requested_scope(form)
    path = f"/plugins/{segment(plugin['id'])}"
    state = await submit_form(form_sections, form, lambda body: client.replace(path, body), stored=plugin,
                              extra={"name": name, **_scope_body(scope)})
    if state.saved is not None:
        return redirect(local_path(request.query_params.get("return_to"), return_path(scope)), "saved")
    return await _form_page(request, state, name=name, scope=scope, plugin=plugin, fixed_scope=False)


async def plugin_toggle(request: Request) -> Response:
    form = await form_values(request)
    enabled = form.first("enabled") == "true"
    await admin(request).update(f"/plugins/{segment(request.path_params['id'])}", {"enabled": enabled})
    return redirect(local_path(form.first("return_to"), "/plugins"), "enabled" if enabled else "disabled")


async def plugin_delete(request: Request) -> Response:
    form = await form_values(request)
    back = local_path(form.first("return_to"), "/plugins")

    async def refused(message: str, status: int) -> Response:
        return render(request, "error.html", {"title": "Plugin not deleted", "message": message,
                                              "back": back}, status=status)

    return await delete_entity(request, f"/plugins/{segment(request.path_params['id'])}", refused, back)


routes = [
    Route("/plugins", plugin_list),
    Route("/plugins/new", catalogue),
    Route("/plugins/new/{name}", plugin_new, methods=["GET", "POST"]),
    Route("/plugins/{id}/edit", plugin_edit, methods=["GET", "POST"]),
    Route("/plugins/{id}/toggle", plugin_toggle, methods=["POST"]),
    Route("/plugins/{id}/delete", plugin_delete, methods=["POST"]),
]
