"""Kong's form-encoded bodies (kong/api/arguments.lua): nested keys, arrays, and values typed by schema.

`paths[]=/a&paths[]=/b`, `paths=/a&paths=/b`, `paths[1]=/a` and `paths=/a` all give a list of
paths; `config.scopes=openid` gives `{"config": {"scopes": ["openid"]}}` because the schema says
`scopes` is an array; `service.id=...` gives `{"service": {"id": ...}}`; an empty value is null.
Strings are left for pydantic to convert ("80" -> 80, "true" -> True), as Kong's schema does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from oidcgate.controlplane.errors import BadRequest

_PART_RE = re.compile(r"([^.\[\]]+)|\[([^\[\]]*)\]")
_APPEND = object()  # the `[]` suffix
MAX_INDEX = 1000


def _parts(key: str) -> list[Any]:
    parts: list[Any] = []
    for match in _PART_RE.finditer(key):
        name, index = match.groups()
        if name is not None:
            parts.append(name)
        elif index == "":
            parts.append(_APPEND)
        elif index.isdigit() and int(index) <= MAX_INDEX:
            parts.append(int(index))
        else:
            parts.append(index)
    if not parts or any(p is _APPEND for p in parts[:-1]) or not isinstance(parts[0], str):
        raise BadRequest(f"invalid form field name '{key}'")
    return parts


def decode(items: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Turn form fields into the nested document Kong builds from them (untyped)."""
    root: dict[Any, Any] = {}
    for key, value in items:
        parts = _parts(key)
        node = root
        for part in parts[:-2 if parts[-1] is _APPEND else -1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise BadRequest(f"form field '{key}' conflicts with another field")
            node = child
        if parts[-1] is _APPEND:
            existing = node.setdefault(parts[-2], [])
            if isinstance(existing, dict):
                raise BadRequest(f"form field '{key}' conflicts with another field")
            node[parts[-2]] = [*existing, value] if isinstance(existing, list) else [existing, value]
            continue
        leaf = parts[-1]
        if leaf not in node:
            node[leaf] = value
        elif isinstance(node[leaf], list):
            node[leaf].append(value)
        elif isinstance(node[leaf], str):
            node[leaf] = [node[leaf], value]
        else:
            raise BadRequest(f"form field '{key}' conflicts with another field")
    return _finish(root)


def _finish(node: Any) -> Any:
    """Indexed fields (`a[1]`, `a[2]`) become lists in index order; "" becomes null."""
    if isinstance(node, dict):
        if node and all(isinstance(k, int) for k in node):
            return [_finish(node[k]) for k in sorted(node)]
        if any(isinstance(k, int) for k in node):
            raise BadRequest("form fields mix indexed and named entries in one field")
        return {k: _finish(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_finish(v) for v in node]
    return None if node == "" else node


def coerce(value: Any, schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """Wrap single values in lists where the JSON schema wants an array, recursively."""
    schema = _resolve(schema, defs)
    variants = [_resolve(v, defs) for v in schema.get("anyOf", schema.get("oneOf", ()))] or [schema]
    variants = [v for v in variants if v.get("type") != "null"] or variants
    array = next((v for v in variants if v.get("type") == "array"), None)
    if array is not None:
        items = array.get("items", {})
        if isinstance(value, list):
            return [coerce(v, items, defs) for v in value]
        if value is not None and not isinstance(value, dict):
            return [coerce(value, items, defs)]
    record = next((v for v in variants if v.get("type") == "object" or "properties" in v), None)
    if record is not None and isinstance(value, dict):
        properties = record.get("properties", {})
        extra = record.get("additionalProperties")
        return {k: coerce(v, properties.get(k, extra if isinstance(extra, dict) else {}), defs)
                for k, v in value.items()}
    return value


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    for _ in range(32):  # references never chain this deep; the bound keeps a cycle harmless
        ref = schema.get("$ref")
        if not isinstance(ref, str):
            break
        schema = defs.get(ref.rsplit("/", 1)[-1], {})
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return _resolve({**schema["allOf"][0], **{k: v for k, v in schema.items() if k != "allOf"}}, defs)
    return schema
