"""The OpenAPI 3.1 document of the Admin API, generated from the entity schemas and the route table.

Request bodies are the pydantic models' JSON schemas (references widened to Kong's `{"id": ...}`
form), so generated clients and fuzzers (schemathesis) send what the API validates.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from oidcgate import __version__
from oidcgate.config.entities import ENTITY_MODELS
from oidcgate.controlplane.admin.entities import COLLECTIONS
from oidcgate.controlplane.analytics import DEFAULT_WINDOW, WINDOWS
from oidcgate.controlplane.pagination import MAX_SIZE
from oidcgate.controlplane.store import REFERENCES

REF = "#/components/schemas/{model}"
ERROR = {"$ref": "#/components/schemas/Error"}
ENTITY_OUT = {"type": "object", "additionalProperties": True}
KEY_PARAMETER = {"name": "key", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1},
                 "description": "The entity's id, or its endpoint key (name, username, instance_name, target)."}
PARENT_PARAMETER = {**KEY_PARAMETER, "name": "parent", "description": "The parent entity's id or name."}
PAGE_PARAMETERS = [
    {"name": "size", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_SIZE}},
    {"name": "offset", "in": "query", "schema": {"type": "string"},
     "description": "The `offset` returned by the previous page."},
    {"name": "tags", "in": "query", "schema": {"type": "string"},
     "description": "`a,b`: entities with every tag; `a/b`: with any of them."},
]
ANALYTICS_PARAMETERS: list[dict[str, Any]] = [
    {"name": "window", "in": "query", "schema": {"type": "string", "enum": list(WINDOWS), "default": DEFAULT_WINDOW},
     "description": "The last 15 minutes, hour or day, the minute in progress included."},
    *({"name": kind, "in": "query", "schema": {"type": "string", "minLength": 1},
       "description": f"Only the traffic of this {kind} (its id, or its name or username)."}
      for kind in ("service", "route", "consumer")),
]
FOREIGN_KEY = {"anyOf": [
    {"type": "string", "minLength": 1},
    {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"], "additionalProperties": False},
    {"type": "null"},
]}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _responses(ok: int | None, *codes: int) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if ok == 204:
        responses["204"] = {"description": "Deleted (or did not exist)."}
    elif ok is not None:
        responses[str(ok)] = {"description": "Success.", **_json(ENTITY_OUT)}
    for code in (400, 401, *codes):
        responses[str(code)] = {"description": "Error (Kong's shape).", **_json(ERROR)}
    return responses


def _entity_schemas(components: dict[str, Any]) -> dict[str, str]:
    """Add each entity's input schema (and a PATCH variant) to components; name by kind."""
    names = {}
    for kind, model in ENTITY_MODELS.items():
        schema = model.model_json_schema(ref_template=REF)
        components.update(schema.pop("$defs", {}))
        for ref in REFERENCES.get(kind, ()):
            schema["properties"][ref] = FOREIGN_KEY
        if kind == "services":
            schema["properties"]["url"] = {"type": "string"}
        if kind == "plugins":
            schema["properties"]["config"] = {"type": "object", "additionalProperties": True}
        if kind == "certificates":  # Kong's shorthand (admin.certificates): exactly these SNIs, null for none
            schema["properties"]["snis"] = {"type": ["array", "null"], "items": {"type": "string"}}
        patch = copy.deepcopy(schema)
        patch.pop("required", None)
        patch["title"] = f"{model.__name__}Patch"
        components[model.__name__] = schema
        components[f"{model.__name__}Patch"] = patch
        names[kind] = model.__name__
    return names


def _operation(summary: str, parameters: list[dict[str, Any]], responses: dict[str, Any],
               body: dict[str, Any] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "parameters": parameters, "responses": responses}
    if body is not None:
        operation["requestBody"] = {"required": True, **_json(body)}
    return operation


def _operation_id(method: str, path: str) -> str:
    return method + path.replace("{", "").replace("}", "").replace("/", "-").rstrip("-")


def _link_created_entities(paths: dict[str, Any]) -> None:
    """OpenAPI links from each create to what can be done with the new entity (and its children)."""
    for path, operations in paths.items():
        for method, operation in operations.items():
            operation["operationId"] = _operation_id(method, path)
    for collection in COLLECTIONS:
        links: dict[str, Any] = {}
        keep_parent = {"parent": "$request.path.parent"} if collection.parent else {}
        for method in ("get", "patch", "put", "delete"):
            links[f"{method}-created"] = {"operationId": _operation_id(method, collection.path + "/{key}"),
                                          "parameters": {"key": "$response.body#/id", **keep_parent}}
        for child in COLLECTIONS:
            if child.parent is not None and child.parent[0] == collection.kind and collection.parent is None:
                for method in ("get", "post"):
                    links[f"{method}-{child.kind}"] = {"operationId": _operation_id(method, child.path),
                                                       "parameters": {"parent": "$response.body#/id"}}
        paths[collection.path]["post"]["responses"]["201"]["links"] = links


@functools.cache
def _document() -> dict[str, Any]:
    components: dict[str, Any] = {
        "Error": {"type": "object", "required": ["message"], "properties": {
            "message": {"type": "string"}, "name": {"type": "string"}, "code": {"type": "integer"},
            "fields": {"type": "object"}}},
        "Page": {"type": "object", "required": ["data", "next"], "properties": {
            "data": {"type": "array", "items": ENTITY_OUT},
            "next": {"type": ["string", "null"]}, "offset": {"type": "string"}}},
    }
    names = _entity_schemas(components)
    paths: dict[str, Any] = {}
    for collection in COLLECTIONS:
        kind, model = collection.kind, names[collection.kind]
        base = [PARENT_PARAMETER] if collection.parent else []
        missing = (404,) if collection.parent else ()
        body = {"$ref": REF.format(model=model)}
        patch = {"$ref": REF.format(model=f"{model}Patch")}
        paths[collection.path] = {
            "get": _operation(f"List {kind}", base + PAGE_PARAMETERS,
                              {"200": {"description": "A page.", **_json({"$ref": "#/components/schemas/Page"})},
                               **_responses(None, *missing)}),
            "post": _operation(f"Create one of {kind}", base, _responses(201, 409, 413, 415, *missing), body),
        }
        item = [*base, KEY_PARAMETER]
        paths[collection.path + "/{key}"] = {
            "get": _operation(f"Read one of {kind}", item, _responses(200, 404)),
            "put": _operation(f"Create or replace one of {kind}", item, _responses(200, 404, 409, 413, 415), body),
            "patch": _operation(f"Update one of {kind}", item, _responses(200, 404, 409, 413, 415), patch),
            "delete": _operation(f"Delete one of {kind}", item, _responses(204, 404)),
        }
    _link_created_entities(paths)
    any_object = {"type": "object", "additionalProperties": True}
    paths.update({
        "/": {"get": _operation("Node information", [], _responses(200))},
        "/status": {"get": _operation("Health of this node", [], _responses(200, 503))},
        "/routes/{key}/service": {"get": _operation("The service of a route", [KEY_PARAMETER],
                                                    _responses(200, 404))},
        "/schemas/{entity}": {"get": _operation("An entity's schema", [
            {**KEY_PARAMETER, "name": "entity", "schema": {"type": "string", "enum": list(ENTITY_MODELS)}}],
            _responses(200, 404))},
        "/schemas/plugins/{name}": {"get": _operation("A plugin's schema", [
            {**KEY_PARAMETER, "name": "name"}], _responses(200, 404))},
        "/schemas/plugins/validate": {"post": _operation(
            "Validate a plugin", [], _responses(200, 413, 415), {"$ref": REF.format(model=names["plugins"])})},
        "/schemas/{entity}/validate": {"post": _operation("Validate an entity", [
            {**KEY_PARAMETER, "name": "entity", "schema": {"type": "string", "enum": list(ENTITY_MODELS)}}],
            _responses(200, 404, 413, 415), any_object)},
        "/config": {
            "get": _operation("Export the configuration (kong.yml; JSON with Accept: application/json)", [],
                              _responses(200)),
            "post": _operation("Replace the whole configuration", [], _responses(201, 413, 415), any_object),
        },
        "/clustering/data-planes": {"get": _operation("Connected data planes", PAGE_PARAMETERS[:2],
                                                      _responses(200))},
        "/clustering/status": {"get": _operation("Hybrid mode summary", [], _responses(200))},
        "/clustering/runtime-script": {"get": _operation("A script that starts a data plane", [],
                                                         _responses(200, 404))},
        "/analytics/summary": {"get": _operation(
            "Traffic of a window: totals, status classes, latency percentiles, per route, service and consumer",
            ANALYTICS_PARAMETERS, _responses(200, 404))},
        "/analytics/timeseries": {"get": _operation(
            "Traffic of a window step by step (a minute, or 15 minutes for a day)", ANALYTICS_PARAMETERS,
            _responses(200, 404))},
        "/openapi.json": {"get": _operation("This document", [], _responses(200))},
    })
    return {
        "openapi": "3.1.0",
        "info": {"title": "oidcgate Admin API", "version": __version__,
                 "description": "Kong-compatible Admin API of the oidcgate control plane."},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"adminToken": {"type": "apiKey", "in": "header", "name": "Kong-Admin-Token"}},
        },
        "security": [{}, {"adminToken": []}],
    }


def document() -> dict[str, Any]:
    return copy.deepcopy(_document())
