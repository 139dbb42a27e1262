"""Kong's core entities as pydantic models: services, routes, consumers, plugins, upstreams, targets,
consumer groups (with their memberships) and the acl plugin's credentials.

Field names, defaults and limits follow Kong 3.x so that kong.yml files and Admin API bodies carry
over unchanged. References to other entities (`service`, `route`, `consumer`, `upstream`) are
resolved to ids by the declarative loader; in a snapshot they are always ids.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from oidcgate.config.base import Entity, foreign_key
from oidcgate.config.certificates import SNI, CACertificate, Certificate, SNIName
from oidcgate.config.types import (
    HeaderName,
    Hostname,
    Name,
    Port,
    Reference,
    TimeoutMs,
    UUIDStr,
    validate_hostname,
)
from oidcgate.http.cookies import COOKIE_NAME

HTTP_METHOD_RE = re.compile(r"^[A-Z]+$")
Protocol = Literal["http", "https"]
PluginProtocol = Literal["grpc", "grpcs", "http", "https"]


class Service(Entity):
    KIND: ClassVar[str] = "services"

    name: Name | None = None
    protocol: Protocol = "http"
    host: Hostname
    port: Port = 80
    path: str | None = Field(default=None, pattern=r"^/[^?#\s]*$", description="Path prefix sent upstream.")
    retries: int = Field(default=5, ge=0, le=32767)
    connect_timeout: TimeoutMs = 60000
    write_timeout: TimeoutMs = 60000
    read_timeout: TimeoutMs = 60000
    enabled: bool = True
    tls_verify: bool | None = Field(default=None, description="Verify the upstream's certificate (https only).")
    tls_verify_depth: int | None = Field(default=None, ge=0, le=64, description="Kong's longest chain accepted: stored, not enforced (OpenSSL's default depth applies).")
    ca_certificates: list[UUIDStr] | None = Field(default=None, description="ids of ca_certificates to trust.")
    client_certificate: Reference | None = Field(default=None, description="Certificate for mutual TLS upstream.")

    _ref_client_certificate = field_validator("client_certificate", mode="before")(foreign_key)

    @model_validator(mode="after")
    def _tls_needs_https(self) -> Service:
        if self.protocol != "https":
            for name in ("tls_verify", "tls_verify_depth", "ca_certificates", "client_certificate"):
                if getattr(self, name) is not None:
                    raise ValueError(f"'{name}' can only be set when 'protocol' is 'https'")
        return self

    @model_validator(mode="before")
    @classmethod
    def _expand_url(cls, data: Any) -> Any:
        """`url` is Kong's shorthand for protocol, host, port and path."""
        if not isinstance(data, dict) or data.get("url") is None:
            return data
        data = dict(data)
        url = data.pop("url")
        if not isinstance(url, str):
            raise ValueError("url: expected a string")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url: '{url}' is not an http(s) URL with a host")
        if parts.query or parts.fragment:
            raise ValueError(f"url: '{url}' must not have a query or fragment")
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"url: '{url}' has an invalid port") from None
        data["protocol"] = parts.scheme
        data["host"] = parts.hostname
        data["port"] = port or (443 if parts.scheme == "https" else 80)
        data["path"] = parts.path or None
        return data


def _method(method: str) -> str:
    if not HTTP_METHOD_RE.match(method):
        raise ValueError(f"invalid method '{method}': use upper-case letters only")
    return method


def _route_path(path: str) -> str:
    if path.startswith("~"):
        try:
            re.compile(path[1:])
        except re.error as exc:
            raise ValueError(f"invalid regex '{path[1:]}': {exc}") from None
    elif not path.startswith("/"):
        raise ValueError(f"should start with: / (fixed path) or ~/ (regex path), got '{path}'")
    elif any(c in path for c in "?#") or any(c.isspace() for c in path):
        raise ValueError(f"invalid path '{path}': no query, fragment or white space")
    return path


def _route_host(host: str) -> str:
    name, _, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
    if port and not port.isdigit():
        raise ValueError(f"invalid port in host '{host}'")
    bare = name or host
    if bare.count("*") > 1 or ("*" in bare and not (bare.startswith("*.") or bare.endswith(".*"))):
        raise ValueError(f"invalid wildcard host '{host}': only a leftmost or rightmost '*' label")
    validate_hostname(bare.replace("*", "wildcard"))
    return host


Method = Annotated[str, AfterValidator(_method)]
RoutePath = Annotated[str, AfterValidator(_route_path)]
RouteHost = Annotated[str, AfterValidator(_route_host)]


class Route(Entity):
    KIND: ClassVar[str] = "routes"

    name: Name | None = None
    protocols: list[Protocol] = Field(default_factory=lambda: list[Protocol](["http", "https"]), min_length=1)
    methods: list[Method] | None = None
    hosts: list[RouteHost] | None = None
    paths: list[RoutePath] | None = None
    headers: dict[HeaderName, list[str]] | None = None
    https_redirect_status_code: Literal[426, 301, 302, 307, 308] = 426
    regex_priority: int = 0
    strip_path: bool = True
    path_handling: Literal["v0", "v1"] = "v0"
    preserve_host: bool = False
    request_buffering: bool = True
    response_buffering: bool = True
    snis: list[SNIName] | None = None  # server names a TLS client indicated (exact or wildcard)
    sources: list[dict[str, Any]] | None = None  # (stream routes' fields: refused here, as by Kong's http routes)
    destinations: list[dict[str, Any]] | None = None
    service: Reference | None = None

    _ref_service = field_validator("service", mode="before")(foreign_key)

    @model_validator(mode="after")
    def _something_to_match(self) -> Route:
        """Kong's http subschema: what a route may and must set for its protocols."""
        for stream_field in ("sources", "destinations"):
            if getattr(self, stream_field):
                raise ValueError(f"cannot set '{stream_field}' when 'protocols' is 'http' or 'https'")
        https = "https" in self.protocols
        if self.snis and not https:
            raise ValueError("'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls', "
                             "'tls_passthrough', or 'wss'")
        if not (self.paths or self.hosts or self.methods or self.headers or self.snis):
            if https:
                raise ValueError("must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' "
                                 "when 'protocols' is 'https'")
            raise ValueError("must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'")
        return self


class Consumer(Entity):
    KIND: ClassVar[str] = "consumers"
    ENDPOINT_KEY: ClassVar[str | None] = "username"

    username: str | None = Field(default=None, min_length=1, max_length=256)
    custom_id: str | None = Field(default=None, min_length=1, max_length=256)

    @model_validator(mode="after")
    def _one_key(self) -> Consumer:
        if self.username is None and self.custom_id is None:
            raise ValueError("at least one of these fields must be non-empty: 'custom_id', 'username'")
        return self


class ConsumerGroup(Entity):
    """Kong's consumer group: consumers that share plugin configurations (e.g. their own rate limit)."""

    KIND: ClassVar[str] = "consumer_groups"

    name: Name


class ConsumerGroupConsumer(Entity):
    """One consumer's membership of one consumer group (Kong's `consumer_group_consumers`)."""

    KIND: ClassVar[str] = "consumer_group_consumers"
    ENDPOINT_KEY: ClassVar[str | None] = None

    consumer_group: Reference | None = None
    consumer: Reference | None = None

    _refs = field_validator("consumer_group", "consumer", mode="before")(foreign_key)


class ACL(Entity):
    """An ACL credential of the acl plugin: the consumer belongs to `group` (Kong's `acls`)."""

    KIND: ClassVar[str] = "acls"
    ENDPOINT_KEY: ClassVar[str | None] = "group"

    group: str = Field(min_length=1, max_length=256, pattern=r"^[^,\x00-\x1f\x7f]+$",
                       description="A group name (no commas or control characters: it goes in a header list).")
    consumer: Reference | None = None

    _ref_consumer = field_validator("consumer", mode="before")(foreign_key)


class Plugin(Entity):
    """A plugin instance. `config` is validated by the plugin's own schema (see plugins.registry)."""

    KIND: ClassVar[str] = "plugins"
    ENDPOINT_KEY: ClassVar[str | None] = "instance_name"

    name: str = Field(min_length=1)
    instance_name: Name | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True
    protocols: list[PluginProtocol] = Field(
        default_factory=lambda: list[PluginProtocol](["grpc", "grpcs", "http", "https"]), min_length=1
    )
    service: Reference | None = None
    route: Reference | None = None
    consumer: Reference | None = None
    consumer_group: Reference | None = None

    _refs = field_validator("service", "route", "consumer", "consumer_group", mode="before")(foreign_key)

    @model_validator(mode="after")
    def _one_identity_scope(self) -> Plugin:
        if self.consumer is not None and self.consumer_group is not None:
            raise ValueError("a plugin is scoped to a consumer or to a consumer group, not both")
        return self

    @field_validator("config", mode="before")
    @classmethod
    def _config_null(cls, value: Any) -> Any:
        return {} if value is None else value


class HealthyActive(BaseModel):
    model_config = ConfigDict(extra="forbid")
    interval: float = Field(default=0, ge=0)
    http_statuses: list[int] = Field(default_factory=lambda: [200, 302])
    successes: int = Field(default=0, ge=0, le=255)


class UnhealthyActive(BaseModel):
    model_config = ConfigDict(extra="forbid")
    interval: float = Field(default=0, ge=0)
    http_statuses: list[int] = Field(default_factory=lambda: [429, 404, 500, 501, 502, 503, 504, 505])
    tcp_failures: int = Field(default=0, ge=0, le=255)
    timeouts: int = Field(default=0, ge=0, le=255)
    http_failures: int = Field(default=0, ge=0, le=255)


class ActiveHealthcheck(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["http", "https", "tcp"] = "http"
    timeout: float = Field(default=1, ge=0)
    concurrency: int = Field(default=10, ge=1)
    http_path: str = "/"
    https_verify_certificate: bool = True
    headers: dict[str, list[str]] | None = None
    healthy: HealthyActive = Field(default_factory=HealthyActive)
    unhealthy: UnhealthyActive = Field(default_factory=UnhealthyActive)


class HealthyPassive(BaseModel):
    model_config = ConfigDict(extra="forbid")
    http_statuses: list[int] = Field(
        default_factory=lambda: [200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303,
                                 304, 305, 306, 307, 308]
    )
    successes: int = Field(default=0, ge=0, le=255)


class UnhealthyPassive(BaseModel):
    model_config = ConfigDict(extra="forbid")
    http_statuses: list[int] = Field(default_factory=lambda: [429, 500, 503])
    tcp_failures: int = Field(default=0, ge=0, le=255)
    timeouts: int = Field(default=0, ge=0, le=255)
    http_failures: int = Field(default=0, ge=0, le=255)


class PassiveHealthcheck(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["http", "https", "tcp"] = "http"
    healthy: HealthyPassive = Field(default_factory=HealthyPassive)
    unhealthy: UnhealthyPassive = Field(default_factory=UnhealthyPassive)


class Healthchecks(BaseModel):
    model_config = ConfigDict(extra="forbid")
    active: ActiveHealthcheck = Field(default_factory=ActiveHealthcheck)
    passive: PassiveHealthcheck = Field(default_factory=PassiveHealthcheck)
    threshold: float = Field(default=0, ge=0, le=100)


class Upstream(Entity):
    KIND: ClassVar[str] = "upstreams"

    name: Hostname
    algorithm: Literal["round-robin", "consistent-hashing", "least-connections", "latency"] = "round-robin"
    slots: int = Field(default=10000, ge=10, le=2**16)
    hash_on: Literal["none", "consumer", "ip", "header", "cookie", "path", "query_arg", "uri_capture"] = "none"
    hash_fallback: Literal["none", "consumer", "ip", "header", "cookie", "path", "query_arg", "uri_capture"] = "none"
    hash_on_header: HeaderName | None = None
    hash_fallback_header: HeaderName | None = None
    hash_on_cookie: Annotated[str, Field(pattern=COOKIE_NAME.pattern)] | None = None
    hash_on_cookie_path: Annotated[str, Field(pattern=r"^/[\x21-\x3a\x3c-\x7e]*$")] = "/"  # (no ";", space or CTL)
    hash_on_query_arg: str | None = None
    hash_fallback_query_arg: str | None = None
    hash_on_uri_capture: str | None = None
    hash_fallback_uri_capture: str | None = None
    host_header: Hostname | None = None
    use_srv_name: bool = False
    healthchecks: Healthchecks = Field(default_factory=Healthchecks)

    @model_validator(mode="after")
    def _hashing(self) -> Upstream:
        """Kong's upstream checks on the hash inputs."""
        if "cookie" in (self.hash_on, self.hash_fallback):
            if self.hash_on_cookie is None:
                raise ValueError(f"'hash_on_cookie' is required when "
                                 f"'{'hash_on' if self.hash_on == 'cookie' else 'hash_fallback'}' is 'cookie'")
            if self.hash_on == "cookie" and self.hash_fallback != "none":
                raise ValueError("'hash_fallback' must be 'none' when 'hash_on' is 'cookie' (a client without the "
                                 "cookie gets one)")
        names = {}
        for which in ("hash_on", "hash_fallback"):
            kind = getattr(self, which)
            if kind in _HASH_NAMED:  # (hash_on_header, hash_fallback_query_arg, ...)
                names[which] = getattr(self, f"{which}_{kind}")
                if names[which] is None:
                    raise ValueError(f"'{which}_{kind}' is required when '{which}' is '{kind}'")
        if self.hash_on == "none" and self.hash_fallback != "none":
            raise ValueError("'hash_fallback' must be 'none' when 'hash_on' is 'none'")
        if self.hash_on == self.hash_fallback != "none" and (
                self.hash_on not in _HASH_NAMED or names["hash_on"].lower() == names["hash_fallback"].lower()):
            raise ValueError("'hash_fallback' must differ from 'hash_on'")
        return self


_HASH_NAMED = frozenset({"header", "query_arg", "uri_capture"})  # the hash inputs a field names


TARGET_RE = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[^:\[\]]+)(?::(?P<port>\d{1,5}))?$")


class Target(Entity):
    KIND: ClassVar[str] = "targets"
    ENDPOINT_KEY: ClassVar[str | None] = "target"

    target: str = Field(description="host:port of one upstream server (port defaults to 8000, as in Kong).")
    weight: int = Field(default=100, ge=0, le=65535)
    upstream: Reference | None = None

    _ref_upstream = field_validator("upstream", mode="before")(foreign_key)

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        match = TARGET_RE.match(value)
        if not match or (match["port"] and int(match["port"]) > 65535):
            raise ValueError(f"invalid target '{value}': expected host[:port]")
        return value if match["port"] else f"{value}:8000"

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.target.rpartition(":")
        return host.strip("[]"), int(port)


ENTITY_MODELS: dict[str, type[Entity]] = {
    model.KIND: model for model in (Service, Route, Consumer, Plugin, Upstream, Target, ACL, ConsumerGroup,
                                    ConsumerGroupConsumer)
}
ENTITY_MODELS.update({model.KIND: model for model in (Certificate, SNI, CACertificate)})
