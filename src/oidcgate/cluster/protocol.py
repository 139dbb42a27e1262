"""The messages of the control plane <-> data plane link, free of I/O (Kong's clustering v1 protocol).

JSON objects over one WebSocket, each with a `type`:

  DP -> CP  hello        {node_id, hostname, version, config_hash, plugins: [{name, version}]}   first
            heartbeat    {config_hash}                       every few seconds and after each apply
            error        {message, hash}                     a pushed config was refused; old one kept
            analytics    {minute, rows: [{service, service_name, route, route_name, consumer,
                         consumer_name, codes: {"200": n}, latency: [n per bucket]}]}
                                                             requests counted during part of one minute
  CP -> DP  reconfigure  {config, hash, timestamp}           the full snapshot
            error        {message}                           e.g. why no config is sent (incompatible)

A reconfigure is sent as a binary frame holding the gzip-compressed JSON message (a 10,000-entity
snapshot shrinks ~10x); every other message is a text frame of plain JSON. Decoding bounds the
decompressed size and checks every field, so a malformed frame is a ProtocolError, never a crash.

`analytics` is ours, not Kong's: a control plane that accepts it says so in the handshake response
(FEATURES_HEADER), and a data plane sends it only then, since an older control plane closes the link
on a message type it does not know.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from oidcgate.analytics.histogram import SIZE as LATENCY_BUCKETS
from oidcgate.inflate import GZIP, InflateError, inflate

PATH = "/v1/outlet"  # Kong's clustering endpoint
DEFAULT_PORT = 8005
MAX_CONFIG_BYTES = 256 * 1024 * 1024  # decompressed reconfigure bound (a decompression-bomb guard)
MAX_TEXT_FRAME = 1024 * 1024  # what a DP may send the CP in one frame
_HASH_RE = re.compile(r"^[0-9a-f]{0,64}$")
_STATUS_RE = re.compile(r"[1-9][0-9]{2}")  # (fullmatch: str.isdigit takes other scripts' digits)
_MAX_PLUGINS = 1000
FEATURES_HEADER = "Oidcgate-Cluster-Features"  # the CP's handshake response: messages it takes beyond Kong's
ANALYTICS = "analytics"
ANALYTICS_FRAME_BUDGET = MAX_TEXT_FRAME // 2  # an analytics frame stays well under what the CP accepts
_MAX_COUNT = 2**53  # (exact in every JSON parser)


class ProtocolError(ValueError):
    """A frame that is not a well-formed message of this protocol."""


class SyncStatus(StrEnum):
    """Kong's `sync_status` values as `GET /clustering/data-planes` shows them."""

    UNKNOWN = "unknown"
    NORMAL = "normal"
    KONG_VERSION_INCOMPATIBLE = "kong_version_incompatible"
    PLUGIN_SET_INCOMPATIBLE = "plugin_set_incompatible"
    PLUGIN_VERSION_INCOMPATIBLE = "plugin_version_incompatible"


@dataclass
class DataPlaneStatus:
    """What the control plane knows about one data plane (a row of `GET /clustering/data-planes`)."""

    id: str
    ip: str
    hostname: str
    version: str
    config_hash: str
    last_seen: int  # epoch seconds of the last message
    sync_status: str = SyncStatus.UNKNOWN.value


@dataclass(frozen=True)
class Hello:
    node_id: str
    hostname: str
    version: str
    config_hash: str
    plugins: dict[str, str] = field(default_factory=dict)  # name -> version


@dataclass(frozen=True)
class Heartbeat:
    config_hash: str


@dataclass(frozen=True)
class Reconfigure:
    config: dict[str, Any]
    hash: str
    timestamp: float


@dataclass(frozen=True)
class Error:
    message: str
    hash: str | None = None


@dataclass(frozen=True)
class UsageRow:
    """Requests of one (service, route, consumer) in one report; ids are None for no route or no consumer."""

    service: str | None
    service_name: str
    route: str | None
    route_name: str
    consumer: str | None
    consumer_name: str
    codes: dict[int, int]  # status code -> requests
    latency: tuple[int, ...]  # requests per latency bucket (oidcgate.analytics.histogram)


@dataclass(frozen=True)
class Analytics:
    """Requests a data plane finished during (part of) the minute starting at `minute` (epoch seconds)."""

    minute: int
    rows: tuple[UsageRow, ...]


Message = Hello | Heartbeat | Reconfigure | Error | Analytics


def parse_address(address: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """"HOST:PORT", "[V6]:PORT" or "HOST" as (host, port); ValueError with the reason otherwise."""
    host, port_text = address.strip(), ""
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ValueError(f"invalid address {address!r}: expected [HOST]:PORT")
        port_text = rest[1:]
    elif host.count(":") == 1:
        host, port_text = host.split(":")
    if not host:
        raise ValueError(f"invalid address {address!r}: no host")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"invalid address {address!r}: port must be 0-65535")
    return host, int(port_text)


def encode(message: Message) -> str | bytes:
    """A message as the WebSocket frame that carries it (bytes: binary frame, str: text frame)."""
    if isinstance(message, Reconfigure):
        body = {"type": "reconfigure", "config": message.config, "hash": message.hash,
                "timestamp": message.timestamp}
        compressor = zlib.compressobj(6, zlib.DEFLATED, GZIP)
        return compressor.compress(orjson.dumps(body)) + compressor.flush()
    if isinstance(message, Hello):
        data: dict[str, Any] = {
            "type": "hello", "node_id": message.node_id, "hostname": message.hostname,
            "version": message.version, "config_hash": message.config_hash,
            "plugins": [{"name": name, "version": version} for name, version in sorted(message.plugins.items())],
        }
    elif isinstance(message, Heartbeat):
        data = {"type": "heartbeat", "config_hash": message.config_hash}
    elif isinstance(message, Analytics):
        data = {"type": "analytics", "minute": message.minute, "rows": [
            {"service": row.service, "service_name": row.service_name, "route": row.route,
             "route_name": row.route_name, "consumer": row.consumer, "consumer_name": row.consumer_name,
             "codes": {str(code): n for code, n in row.codes.items()}, "latency": row.latency}
            for row in message.rows]}
    else:
        data = {"type": "error", "message": message.message}
        if message.hash is not None:
            data["hash"] = message.hash
    return orjson.dumps(data).decode()


def decode(frame: str | bytes) -> Message:
    """Parse one frame; raises ProtocolError saying what is wrong."""
    raw = _gunzip(frame) if isinstance(frame, bytes) else frame
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError("a message must be a JSON object")
    kind = data.get("type")
    if kind == "hello":
        return Hello(node_id=_text(data, "node_id", 128, required=True), hostname=_text(data, "hostname", 255),
                     version=_text(data, "version", 64, required=True), config_hash=_hash(data, "config_hash"),
                     plugins=_plugins(data.get("plugins")))
    if kind == "heartbeat":
        return Heartbeat(config_hash=_hash(data, "config_hash"))
    if kind == "reconfigure":
        if not isinstance(frame, bytes):
            raise ProtocolError("reconfigure must be a compressed binary frame")
        config, timestamp = data.get("config"), data.get("timestamp", 0)
        if not isinstance(config, dict):
            raise ProtocolError("reconfigure.config: expected an object")
        if not isinstance(timestamp, int | float) or isinstance(timestamp, bool):
            raise ProtocolError("reconfigure.timestamp: expected a number")
        return Reconfigure(config=config, hash=_hash(data, "hash"), timestamp=float(timestamp))
    if kind == "error":
        hash_ = _hash(data, "hash") if data.get("hash") is not None else None
        return Error(message=_text(data, "message", 4096), hash=hash_)
    if kind == "analytics":
        return _analytics(data)
    raise ProtocolError(f"unknown message type {kind!r}")


def _gunzip(frame: bytes) -> bytes:
    try:  # (as before: bytes after the gzip member are ignored)
        return inflate(frame, MAX_CONFIG_BYTES, GZIP, "gzip", allow_trailing=True)
    except InflateError as exc:
        raise ProtocolError(f"binary frame: {exc}") from None


def _text(data: dict[str, Any], key: str, max_length: int, *, required: bool = False) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise ProtocolError(f"{data.get('type')}.{key}: expected a string")
    if required and not value:
        raise ProtocolError(f"{data.get('type')}.{key}: required")
    if len(value) > max_length:
        raise ProtocolError(f"{data.get('type')}.{key}: longer than {max_length} characters")
    return value


def _hash(data: dict[str, Any], key: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or not _HASH_RE.match(value):
        raise ProtocolError(f"{data.get('type')}.{key}: expected a lowercase hex digest")
    return value


def _plugins(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, list) or len(value) > _MAX_PLUGINS:
        raise ProtocolError(f"hello.plugins: expected an array of at most {_MAX_PLUGINS} items")
    plugins: dict[str, str] = {}
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise ProtocolError(f"hello.plugins[{index}]: expected an object")
        name, version = item.get("name"), item.get("version", "")
        if not isinstance(name, str) or not name or len(name) > 128:
            raise ProtocolError(f"hello.plugins[{index}].name: expected a plugin name")
        if not isinstance(version, str) or len(version) > 64:
            raise ProtocolError(f"hello.plugins[{index}].version: expected a version string")
        plugins[name] = version
    return plugins


def split_analytics(minute: int, rows: list[UsageRow], budget: int = ANALYTICS_FRAME_BUDGET) -> list[Analytics]:
    """`rows` as messages whose frames stay under `budget` bytes (halved until they do; one row always
    fits: its names and ids are bounded, and so are its status codes)."""
    message = Analytics(minute, tuple(rows))
    if len(rows) <= 1 or len(encode(message)) <= budget:
        return [message]
    half = len(rows) // 2
    return split_analytics(minute, rows[:half], budget) + split_analytics(minute, rows[half:], budget)


def _analytics(data: dict[str, Any]) -> Analytics:
    minute = data.get("minute")
    if not isinstance(minute, int) or isinstance(minute, bool) or minute <= 0 or minute % 60:
        raise ProtocolError("analytics.minute: expected the epoch second a minute starts at")
    rows = data.get("rows")
    if not isinstance(rows, list):
        raise ProtocolError("analytics.rows: expected an array")
    return Analytics(minute, tuple(_usage_row(row, f"analytics.rows[{i}]") for i, row in enumerate(rows)))


def _usage_row(row: Any, where: str) -> UsageRow:
    if not isinstance(row, dict):
        raise ProtocolError(f"{where}: expected an object")

    def optional_id(key: str) -> str | None:
        value = row.get(key)
        if value is not None and (not isinstance(value, str) or not 0 < len(value) <= 36):
            raise ProtocolError(f"{where}.{key}: expected an id or null")
        return value

    def name(key: str, limit: int) -> str:
        value = row.get(key, "")
        if not isinstance(value, str) or len(value) > limit:
            raise ProtocolError(f"{where}.{key}: expected a string of at most {limit} characters")
        return value

    codes_in, latency = row.get("codes"), row.get("latency")
    if not isinstance(codes_in, dict):
        raise ProtocolError(f"{where}.codes: expected an object")
    codes: dict[int, int] = {}
    for code, count in codes_in.items():
        if not _STATUS_RE.fullmatch(code) or not _is_count(count):
            raise ProtocolError(f"{where}.codes: expected status codes (100-999) with request counts")
        codes[int(code)] = count
    if not isinstance(latency, list) or len(latency) != LATENCY_BUCKETS or not all(map(_is_count, latency)):
        raise ProtocolError(f"{where}.latency: expected {LATENCY_BUCKETS} request counts, one per bucket")
    if sum(latency) != sum(codes.values()):
        raise ProtocolError(f"{where}: the latency counts do not add up to the requests")
    return UsageRow(optional_id("service"), name("service_name", 128), optional_id("route"), name("route_name", 128),
                    optional_id("consumer"), name("consumer_name", 256), codes, tuple(latency))


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _MAX_COUNT
