"""Kong's log serializer (`kong.log.serialize()`): one finished request as the JSON object that file-log and
http-log write, in Kong's shape.

    {"request": {"method", "uri", "url", "querystring", "headers", "size"}, "upstream_uri",
     "response": {"status", "headers", "size"}, "latencies": {"request", "proxy", "kong", "receive"},
     "tries": [{"ip", "port", ...}], "route": {...}, "service": {...}, "consumer": {...},
     "authenticated_entity": {"id", "consumer_id"}, "client_ip", "started_at", ...}

plus what plugins added to the request's log fields (`correlation_id`), `trace_id` (`{"w3c": hex}`) when
opentelemetry traced the request, and a plugin's `custom_fields`.

Never in an entry, whatever Kong would write: an Authorization or Proxy-Authorization value, a cookie
(Cookie, Set-Cookie), a header whose name says it holds a secret (token, secret, session, password,
credential, api key...), a value shaped like a JWT, or a query-string value (they carry `access_token`,
`code`, `client_secret`): those are written as "REDACTED", the names stay. Bodies are never read.

The data plane hands observers a `Finished` (built once per request from what the proxy already has,
no decoding); `entry()` turns it into the dict, in the plugins' batches, off the request path. Route,
service and consumer entities are encoded once per entity object and reused as JSON fragments.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson
from pydantic import BaseModel

if TYPE_CHECKING:
    from oidcgate.config.entities import Consumer, Route, Service
    from oidcgate.http.fields import HeaderFields

REDACTED = "REDACTED"
_SECRET_NAME = re.compile(r"authorization|cookie|token|secret|session|passw|credential|api-?key|apikey|"
                          r"signature|assertion|jwt|x-csrf")
_JWT_LIKE = re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_ENCODED_MAX = 4096


@dataclass(slots=True)
class Finished:
    """A finished request as observers see it: raw pieces the proxy already had, decoded when logged."""

    started_at: float  # epoch seconds at the request head
    request_ms: float  # first byte read to last byte sent
    proxy_ms: float  # upstream request sent to response head received; -1 when no upstream answered
    kong_ms: float  # until the request went upstream (or, answered by the gateway, until the answer)
    client_ip: str
    method: bytes
    raw_path: bytes  # as received, percent-encoded
    query: bytes  # as received, with its "?" (b"" without)
    host: bytes  # the Host header without its port
    port: int  # the proxy listener's port
    http_version: str
    request_fields: HeaderFields  # header fields as forwarded
    request_size: int  # request line, header fields and body, in bytes
    status: int
    response_fields: HeaderFields | None  # the upstream's response header fields; None when it did not answer
    response_size: int  # bytes written to the client, head included
    route: Route | None
    service: Service | None
    consumer: Consumer | None
    credential: Mapping[str, Any] | None
    upstream_uri: bytes | None  # path and query as sent upstream; None when nothing was
    tries: tuple[tuple[str, int, str | None], ...]  # (ip, port, failure: "tcp"/"timeout"/None), in order
    log_fields: Mapping[str, Any] | None  # what plugins added (Kong's set_serialize_value)
    trace_id: bytes | None = None  # 16 bytes, when opentelemetry traced the request
    trace: Any = None  # the opentelemetry plugin's trace of the request, for its exporter


def entry(finished: Finished, custom_fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Kong's serialized log entry of `finished` (a dict for orjson; entities as JSON fragments)."""
    path = finished.raw_path.decode("latin-1")
    querystring, query = _query(finished.query)
    host = finished.host.decode("latin-1")
    uri = path + query
    root: dict[str, Any] = {
        "request": {
            "method": finished.method.decode("latin-1"),
            "uri": uri,
            "url": f"http://{host}:{finished.port}{uri}",
            "querystring": querystring,
            "headers": headers(finished.request_fields),
            "size": finished.request_size,
        },
        "upstream_uri": _upstream_uri(finished.upstream_uri),
        "response": {
            "status": finished.status,
            "headers": headers(finished.response_fields) if finished.response_fields is not None else {},
            "size": finished.response_size,
        },
        "latencies": {"request": int(finished.request_ms + 0.5),
                      "proxy": int(finished.proxy_ms + 0.5) if finished.proxy_ms >= 0 else -1,
                      "kong": int(finished.kong_ms + 0.5), "receive": 0},
        "tries": [_try(ip, port, failure) for ip, port, failure in finished.tries],
        "client_ip": finished.client_ip,
        "started_at": int(finished.started_at * 1000 + 0.5),
    }
    for key, entity in (("route", finished.route), ("service", finished.service),
                        ("consumer", finished.consumer)):
        if entity is not None:
            root[key] = _encoded(entity)
    credential = finished.credential
    if credential is not None and credential.get("id") is not None:
        root["authenticated_entity"] = {"id": str(credential["id"]),
                                        "consumer_id": finished.consumer.id if finished.consumer else None}
    if finished.trace_id is not None:
        root["trace_id"] = {"w3c": finished.trace_id.hex()}
    for key, value in (finished.log_fields or {}).items():
        root[key] = value
    for key, value in (custom_fields or {}).items():
        head = key.split(".", 1)[0]
        if head != key and isinstance(root.get(head), orjson.Fragment):  # a field inside an entity
            root[head] = orjson.loads(orjson.dumps(root[head]))
        set_value(root, key, value)
    return root


def set_value(root: dict[str, Any], key: str, value: Any) -> None:
    """Kong's `set_serialize_value`: `a.b.c` sets a nested value, creating objects on the way (`\\.` is
    a dot inside a name); a value that is not an object on the way is replaced."""
    parts = [part.replace("\0", ".") for part in key.replace("\\.", "\0").split(".")]
    node = root
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


_names: dict[bytes, tuple[str, bool]] = {}  # a header name as received -> (lower-case name, secret?)


def secret_name(name: str) -> bool:
    """Whether a header (lower-case name) is one whose value is never logged."""
    return _SECRET_NAME.search(name) is not None


def headers(fields: HeaderFields) -> dict[str, str | list[str]]:
    """Header fields as Kong logs them: lower-case names, a list for repeated names, secrets replaced by
    "REDACTED" (what a name means is memoized: names repeat from request to request)."""
    found: dict[str, str | list[str]] = {}
    for raw, raw_value in fields.items():
        known = _names.get(raw)
        if known is None:
            lower = raw.decode("latin-1").lower()
            known = (lower, secret_name(lower))
            if len(_names) < _ENCODED_MAX:
                _names[raw] = known
        name, secret = known
        if secret:
            value = REDACTED
        else:
            value = raw_value.decode("latin-1")
            if value.count(".") >= 2 and _JWT_LIKE.search(value):
                value = REDACTED
        seen = found.get(name)
        if seen is None:
            found[name] = value
        elif isinstance(seen, list):
            seen.append(value)
        else:
            found[name] = [seen, value]
    return found


def _query(query: bytes) -> tuple[dict[str, str | list[str]], str]:
    """(Kong's `querystring` table, the query for `uri`), every value redacted (see the module doc)."""
    if not query:
        return {}, ""
    names = [name for name, _ in parse_qsl(query[1:].decode("latin-1"), keep_blank_values=True)]
    table: dict[str, str | list[str]] = {}
    for name in names:
        known = table.get(name)
        table[name] = REDACTED if known is None else [*([known] if isinstance(known, str) else known), REDACTED]
    return table, "?" + "&".join(f"{name}={REDACTED}" for name in names)


def redacted_query(query: bytes) -> str:
    """A query string ("?..." or "") with every value replaced by "REDACTED" (for URLs in traces)."""
    return _query(query)[1]


def _upstream_uri(uri: bytes | None) -> str:
    if uri is None:
        return ""
    at = uri.find(b"?")
    if at < 0:
        return uri.decode("latin-1")
    return uri[:at].decode("latin-1") + redacted_query(uri[at:])


def _try(ip: str, port: int, failure: str | None) -> dict[str, Any]:
    found: dict[str, Any] = {"ip": ip, "port": port}
    if failure is not None:
        found["state"] = "failed" if failure == "tcp" else failure
    return found


_ENCODED: dict[int, tuple[BaseModel, orjson.Fragment]] = {}


def _encoded(entity: BaseModel) -> orjson.Fragment:
    """An entity as JSON, encoded once per entity object (snapshots are immutable)."""
    known = _ENCODED.get(id(entity))
    if known is not None and known[0] is entity:
        return known[1]
    fragment = orjson.Fragment(orjson.dumps(entity.model_dump(mode="json", exclude_none=True)))
    if len(_ENCODED) >= _ENCODED_MAX:
        _ENCODED.clear()
    _ENCODED[id(entity)] = (entity, fragment)
    return fragment
