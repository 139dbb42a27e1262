"""Entity and plugin schemas for clients: JSON Schema (from the pydantic models) and Kong's field list.

`GET /schemas/plugins/{name}` answers in Kong's shape, `{"fields": [{"config": {"type": "record",
"fields": [...]}}, ...]}`, with what a form needs: type, default, required, description, allowed
values (`one_of`), bounds. The same JSON schemas type form-encoded bodies (forms.coerce) and feed
the OpenAPI document.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from oidcgate.config.entities import ENTITY_MODELS
from oidcgate.controlplane.store import REFERENCES
from oidcgate.plugins import registry

_URL_PROPERTY = {"type": "string", "format": "uri",
                 "description": "Shorthand for protocol, host, port and path (Kong's `url`)."}


@functools.cache
def _entity_json_schema(kind: str) -> dict[str, Any]:
    schema = ENTITY_MODELS[kind].model_json_schema()
    if kind == "services":
        schema["properties"]["url"] = _URL_PROPERTY
    return schema


def entity_json_schema(kind: str) -> dict[str, Any]:
    """The JSON schema of an entity (a copy: callers may change it)."""
    return copy.deepcopy(_entity_json_schema(kind))


@functools.cache
def _plugin_json_schema(name: str) -> dict[str, Any]:
    schema = entity_json_schema("plugins")
    config = registry.get(name).CONFIG.model_json_schema()
    schema.setdefault("$defs", {}).update(config.pop("$defs", {}))
    schema["properties"]["config"] = config
    schema["properties"]["name"] = {"const": name, "type": "string"}
    return schema


def plugin_json_schema(name: str) -> dict[str, Any]:
    """The plugin entity's JSON schema with this plugin's `config`; UnknownPluginError if none."""
    return copy.deepcopy(_plugin_json_schema(name))


def kong_entity_schema(kind: str, plugin: str | None = None) -> dict[str, Any]:
    schema = plugin_json_schema(plugin) if plugin else entity_json_schema(kind)
    fields = _fields(schema, schema.get("$defs", {}))
    refs = REFERENCES.get(kind, {})
    for entry in fields:
        (name, field), = entry.items()
        if name in refs:
            entry[name] = {"type": "foreign", "reference": refs[name], "default": None,
                           "description": field.get("description", f"The {refs[name][:-1]}'s id or name.")}
        if name == "id":
            field.update(type="string", uuid=True, auto=True)
        if name in ("created_at", "updated_at"):
            field.update(type="integer", timestamp=True, auto=True)
    return {"fields": fields}


def _fields(schema: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", ()))
    return [{name: _field(prop, defs, name in required)} for name, prop in schema.get("properties", {}).items()]


def _deref(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    for _ in range(32):
        ref = schema.get("$ref")
        if not isinstance(ref, str):
            return schema
        schema = {**defs.get(ref.rsplit("/", 1)[-1], {}), **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _field(prop: dict[str, Any], defs: dict[str, Any], required: bool = False) -> dict[str, Any]:
    prop = _deref(prop, defs)
    nullable = False
    variants = prop.get("anyOf") or prop.get("oneOf")
    if variants:
        concrete = [_deref(v, defs) for v in variants if v.get("type") != "null"]
        nullable = len(concrete) < len(variants)
        base = concrete[0] if len(concrete) == 1 else {"type": "string"}
        prop = {**base, **{k: v for k, v in prop.items() if k not in ("anyOf", "oneOf")}}
    field: dict[str, Any] = {"type": _kong_type(prop)}
    if field["type"] == "array":
        field["elements"] = _field(prop.get("items", {}), defs)
    elif field["type"] == "record":
        field["fields"] = _fields(prop, defs)
    elif field["type"] == "map":
        field["keys"] = {"type": "string"}
        extra = prop.get("additionalProperties")
        field["values"] = _field(extra, defs) if isinstance(extra, dict) else {"type": "any"}
    if "enum" in prop:
        field["one_of"] = prop["enum"]
    if "const" in prop:
        field["eq"] = prop["const"]
    if "default" in prop:
        field["default"] = prop["default"]
    if required and "default" not in prop:
        field["required"] = True
    for json_key, kong_key in (("description", "description"), ("minLength", "len_min"),
                               ("maxLength", "len_max"), ("pattern", "match"), ("minItems", "len_min"),
                               ("maxItems", "len_max"), ("format", "format")):
        if json_key in prop:
            field[kong_key] = prop[json_key]
    low, high = prop.get("minimum", prop.get("exclusiveMinimum")), prop.get("maximum", prop.get("exclusiveMaximum"))
    if low is not None or high is not None:
        field["between"] = [low, high]
    if nullable and not required:
        field.setdefault("default", None)
    if prop.get("referenceable"):  # Kong marks the strings: `elements` of an array of secrets
        (field["elements"] if field["type"] == "array" else field)["referenceable"] = True
    return field


def _kong_type(prop: dict[str, Any]) -> str:
    kind = prop.get("type")
    if kind == "object" or "properties" in prop:
        return "record" if "properties" in prop else "map"
    if kind in ("string", "integer", "number", "boolean", "array"):
        return str(kind)
    if "enum" in prop:
        return "string" if all(isinstance(v, str) for v in prop["enum"]) else "integer"
    return "any"
