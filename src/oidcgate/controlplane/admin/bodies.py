"""Request bodies as Kong accepts them: JSON, form-encoded (with Kong's key syntax) and multipart.

Form values are typed by the entity's schema (a plugin's `config` by that plugin's schema), so
`curl --data 'config.scopes=openid'` works as in Kong. Bodies are size-limited and read once.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import Message

from oidcgate.config import ConfigError, parse_text
from oidcgate.controlplane.admin import forms
from oidcgate.controlplane.admin.schemas import entity_json_schema, plugin_json_schema
from oidcgate.controlplane.errors import AdminError, BadRequest, DeclarativeConfigError
from oidcgate.plugins import registry

ENTITY_BODY_LIMIT = 1 << 20
CONFIG_BODY_LIMIT = 64 << 20
MAX_FIELDS = 1000
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")  # not text/plain: admin_guard


class PayloadTooLarge(AdminError):
    status = 413


class UnsupportedMediaType(AdminError):
    status = 415


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _is_json(kind: str) -> bool:
    return kind == "application/json" or kind.endswith("+json")


async def read(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("Cannot parse JSON body") from None


async def form_items(request: Request, raw: bytes, kind: str) -> list[tuple[str, str]]:
    """The fields of a urlencoded or multipart body, in order (files read as UTF-8 text)."""
    try:
        if kind == "application/x-www-form-urlencoded":
            return parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)

        async def replay() -> Message:
            return {"type": "http.request", "body": raw, "more_body": False}

        form = await Request(request.scope, replay).form(max_fields=MAX_FIELDS, max_files=MAX_FIELDS)
        items = []
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                value = (await value.read()).decode("utf-8")
            items.append((key, value))
        return items
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"Cannot parse form body: {exc}") from None
    except Exception as exc:  # python-multipart's parse errors have no common public base
        raise BadRequest(f"Cannot parse form body: {type(exc).__name__}") from None


async def entity_body(request: Request, kind: str, plugin_name: str | None = None) -> dict[str, Any]:
    """The body of an entity write as a document; `plugin_name` types a PATCHed plugin's config."""
    raw = await read(request, ENTITY_BODY_LIMIT)
    content_type = media_type(request)
    if not raw.strip():
        return {}
    if _is_json(content_type) or (not content_type and raw.lstrip()[:1] == b"{"):
        document = parse_json(raw)
        if not isinstance(document, dict):
            raise BadRequest("the request body must be a JSON object")
        return document
    if content_type not in FORM_TYPES:
        raise UnsupportedMediaType(f"Content-Type '{content_type}' is not supported; send JSON or a form")
    document = forms.decode(await form_items(request, raw, content_type))
    schema = entity_json_schema(kind)
    name = document.get("name") if kind == "plugins" else None
    name = name if isinstance(name, str) else plugin_name
    if name:
        with contextlib.suppress(registry.UnknownPluginError):  # validation reports it, Kong's way
            schema = plugin_json_schema(name)
    return forms.coerce(document, schema, schema.get("$defs", {}))


async def config_body(request: Request) -> Any:
    """A declarative config from POST /config: a JSON or YAML document, or a `config` field holding one."""
    raw = await read(request, CONFIG_BODY_LIMIT)
    content_type = media_type(request)
    try:
        if content_type in FORM_TYPES:
            fields = dict(await form_items(request, raw, content_type))
            if "config" not in fields:
                raise BadRequest("expected the declarative configuration in a 'config' field")
            return parse_text(fields["config"])
        if _is_json(content_type):
            document = parse_json(raw)
            if isinstance(document, dict) and set(document) == {"config"} and isinstance(document["config"], str):
                return parse_text(document["config"])
            return document
        if content_type and content_type not in YAML_TYPES:
            raise UnsupportedMediaType(f"Content-Type '{content_type}' is not supported; send YAML or JSON")
        return parse_text(raw)
    except ConfigError as exc:
        raise DeclarativeConfigError(exc) from None
