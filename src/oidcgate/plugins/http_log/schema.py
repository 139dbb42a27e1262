"""The `config` of http-log: Kong's fields and defaults (and `custom_fields`, see plugins.log_fields)."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, model_validator

from oidcgate.config.types import REFERENCEABLE, HeaderName
from oidcgate.plugins.http_sink import collector_url
from oidcgate.plugins.log_fields import LogFieldsConfig
from oidcgate.plugins.queue import QueueConfig

_RESERVED = frozenset({"host", "content-length", "content-type"})


def _header_names(value: dict[str, str] | None) -> dict[str, str] | None:
    for name in value or {}:
        if name.lower() in _RESERVED:
            raise ValueError(f"cannot contain '{name}' header")
    return value


class HttpLogConfig(LogFieldsConfig):
    http_endpoint: Annotated[str, AfterValidator(collector_url)] = Field(json_schema_extra=REFERENCEABLE, description=(
        "The HTTP URL the entries are sent to; user information in it (`https://user:password@host/`) "
        "becomes a Basic Authorization header."))
    method: Literal["POST", "PUT", "PATCH"] = Field(default="POST", description=(
        "The method used to send data to the HTTP server."))
    content_type: Literal["application/json", "application/json; charset=utf-8"] = Field(
        default="application/json", description="The type of data sent.")
    timeout: float = Field(default=10000, gt=0, description=(
        "Timeout in milliseconds of one send (connect, write, read), after which it counts as failed."))
    keepalive: float = Field(default=60000, ge=0, description=(
        "How long, in milliseconds, an idle connection to the collector lives before it is closed."))
    headers: Annotated[dict[HeaderName, str] | None, AfterValidator(_header_names)] = Field(
        default=None, json_schema_extra=REFERENCEABLE, description=(
            "Headers sent with every request to the collector (not Host, Content-Length or Content-Type)."))
    queue: QueueConfig = Field(default_factory=QueueConfig, description=(
        "Kong's queue: batching, bounds and retries (kong.tools.queue)."))

    @model_validator(mode="after")
    def _one_authorization(self) -> HttpLogConfig:
        if urlsplit(self.http_endpoint).username is not None and any(
                name.lower() == "authorization" for name in self.headers or {}):
            raise ValueError("specifying both an 'Authorization' header and user info in 'http_endpoint' is "
                             "not allowed")
        return self
