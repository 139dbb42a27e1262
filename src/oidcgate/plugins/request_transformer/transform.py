"""Kong's request-transformer operations, compiled once per config and applied to a PDK request.

Order, as in Kong's access.lua: the URI (replace.uri), the method (http_method), then headers,
body and querystring, each with remove -> rename -> replace -> add -> append. Parameters (query
arguments, form and JSON body fields) share one model, Kong's: a name maps to a string, or to a
list once repeated or appended.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import orjson

from oidcgate.plugins.pdk import Context, Headers, HeaderView, ServiceRequest
from oidcgate.plugins.request_transformer.schema import RequestTransformerConfig, split_pair

Params = dict[str, Any]
Pair = tuple[str, str]
# Query strings and form bodies are decoded and re-encoded as UTF-8; surrogateescape keeps any bytes.
_parse_pairs = partial(parse_qsl, keep_blank_values=True, encoding="utf-8", errors="surrogateescape")
_encode_pairs = partial(urlencode, quote_via=quote, encoding="utf-8", errors="surrogateescape")


@dataclass(frozen=True, slots=True)
class Operations:
    """The five operations on one target (headers, querystring or body), parsed from `name:value`."""

    remove: tuple[str, ...]
    rename: tuple[Pair, ...]
    replace: tuple[Pair, ...]
    add: tuple[Pair, ...]
    append: tuple[Pair, ...]

    @classmethod
    def of(cls, config: RequestTransformerConfig, target: str) -> Operations:
        def pairs(section: str) -> tuple[Pair, ...]:
            return tuple(split_pair(entry) for entry in getattr(getattr(config, section), target))

        return cls(tuple(name for name, _ in pairs("remove")), pairs("rename"), pairs("replace"),
                   pairs("add"), pairs("append"))

    def __bool__(self) -> bool:
        return bool(self.remove or self.rename or self.replace or self.add or self.append)


def append_value(current: Any, value: str) -> list[Any]:
    """Kong's append_value: a string becomes a pair, a list grows, anything else is replaced."""
    if isinstance(current, str):
        return [current, value]
    if isinstance(current, list):
        return [*current, value]
    return [value]


def to_params(pairs: list[Pair]) -> Params:
    params: Params = {}
    for name, value in pairs:
        params[name] = append_value(params[name], value) if name in params else value
    return params


def to_pairs(params: Params) -> list[Pair]:
    return [(name, str(v)) for name, value in params.items()
            for v in (value if isinstance(value, list) else [value])]


def apply_to_params(params: Params, ops: Operations) -> bool:
    """Apply the operations to query/form/JSON parameters in place; True if anything changed."""
    changed = False
    for name in ops.remove:
        if name in params:
            del params[name]
            changed = True
    for old, new in ops.rename:
        if old != new and old in params:
            params[new] = params.pop(old)
            changed = True
    for name, value in ops.replace:
        if name in params:
            params[name] = value
            changed = True
    for name, value in ops.add:
        if name not in params:
            params[name] = value
            changed = True
    for name, value in ops.append:
        params[name] = append_value(params.get(name), value)
        changed = True
    return changed


def transform_headers(headers: Headers, ops: Operations) -> None:
    """Kong's transform_headers. Host is left alone except by replace (and append), which set it."""
    for name in ops.remove:
        if name.lower() != "host":
            headers.remove(name)
    for old, new in ops.rename:
        values = headers.get_all(old)
        if values and old.lower() != "host" and old != new:
            headers.remove(old)
            headers.remove(new)
            for value in values:
                headers.add(new, value)
    for name, value in ops.replace:
        if name.lower() == "host" or name in headers:
            headers.set(name, value)
    for name, value in ops.add:
        if name.lower() != "host" and name not in headers:
            headers.add(name, value)
    for name, value in ops.append:
        if name.lower() == "host":
            headers.set(name, value)
        else:
            headers.add(name, value)


def body_kind(headers: HeaderView) -> str | None:
    """'json', 'form', 'multipart' or None, matched as Kong does (a substring of Content-Type)."""
    content_type = (headers.get("Content-Type") or "").lower()
    for needle, kind in (("application/json", "json"), ("multipart/form-data", "multipart"),
                         ("application/x-www-form-urlencoded", "form")):
        if needle in content_type:
            return kind
    return None


async def transform_body(request: ServiceRequest, ops: Operations) -> None:
    """Kong's transform_body for JSON objects and form bodies; the body is buffered (PDK limit) to do it."""
    kind = body_kind(request.headers)
    if kind not in ("json", "form"):
        return
    raw = await request.read_body()
    if kind == "json":
        try:
            params = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            return  # not JSON after all: forwarded untouched, as Kong does
        if not isinstance(params, dict) or not apply_to_params(params, ops):
            return
        body = orjson.dumps(params)
    else:
        params = to_params(_parse_pairs(raw.decode("utf-8", "surrogateescape")))
        if not apply_to_params(params, ops):
            return
        body = _encode_pairs(to_pairs(params)).encode("utf-8", "surrogateescape")
    request.body = body
    request.headers.remove("Transfer-Encoding")
    request.headers.set("Content-Length", str(len(body)))


def transform_querystring(request: ServiceRequest, ops: Operations) -> None:
    params = to_params(_parse_pairs(request.query_string))
    if apply_to_params(params, ops):
        request.query_string = _encode_pairs(to_pairs(params))


async def transform_method(request: ServiceRequest, method: str) -> None:
    """Set the method; for GET/HEAD/TRACE, a form body's fields also go into the query (Kong)."""
    request.method = method
    if method not in ("GET", "HEAD", "TRACE") or body_kind(request.headers) != "form":
        return
    fields = _parse_pairs((await request.read_body()).decode("utf-8", "surrogateescape"))
    if fields:
        params = to_params([*_parse_pairs(request.query_string), *fields])
        request.query_string = _encode_pairs(to_pairs(params))


class Plan:
    """One config's operations, parsed once when the snapshot is compiled."""

    __slots__ = ("body", "headers", "method", "querystring", "uri")

    def __init__(self, config: RequestTransformerConfig) -> None:
        self.uri = config.replace.uri
        self.method = config.http_method
        # None where a target has no operation, so a request pays nothing for it
        self.headers = Operations.of(config, "headers") or None
        self.body = Operations.of(config, "body") or None
        self.querystring = Operations.of(config, "querystring") or None

    async def apply(self, ctx: Context) -> None:
        request = ctx.service_request
        if self.uri is not None:
            request.set_path(self.uri)
        if self.method is not None:
            await transform_method(request, self.method)
        if self.headers is not None:
            transform_headers(request.headers, self.headers)
        if self.body is not None:
            await transform_body(request, self.body)
        if self.querystring is not None:
            transform_querystring(request, self.querystring)
