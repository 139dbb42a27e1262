"""The `config` of opentelemetry: Kong's fields and defaults, for traces and W3C trace context.

Kong's other propagation formats (b3, jaeger, ot, aws, gcp, datadog, instana), `logs_endpoint` and
`http_response_header_for_traceid` are refused with a message rather than accepted and ignored.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from oidcgate.config.types import REFERENCEABLE, HeaderName
from oidcgate.plugins.base import PluginConfig
from oidcgate.plugins.http_sink import collector_url
from oidcgate.plugins.queue import QueueConfig

KONG_FORMATS = ("b3", "b3-single", "jaeger", "ot", "aws", "gcp", "datadog", "instana")
Format = Literal["w3c"]


def _w3c_only(formats: list[str] | None) -> list[str] | None:
    for name in formats or ():
        if name in KONG_FORMATS:
            raise ValueError(f"'{name}': oidcgate propagates W3C trace context only (w3c)")
    return formats


class Propagation(BaseModel):
    """Kong's `propagation` record: which headers carry the trace context in and out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    extract: Annotated[list[str] | None, AfterValidator(_w3c_only)] = Field(default=None, description=(
        "Header formats used to extract tracing context from incoming requests: `w3c` (`traceparent`). "
        "Unset: `w3c`; empty: never extract (every request starts a new trace)."))
    clear: list[HeaderName] | None = Field(default=None, description=(
        "Header names to clear after context extraction (not sent upstream)."))
    inject: Annotated[list[str] | None, AfterValidator(_w3c_only)] = Field(default=None, description=(
        "Header formats used to inject tracing context upstream: `w3c`, or `preserve` (the format that was "
        "extracted, else `default_format`). Unset: `preserve`; empty: inject nothing."))
    default_format: Format = Field(default="w3c", description=(
        "The format to inject with `preserve` when nothing was extracted."))

    @field_validator("extract", "inject", mode="before")
    @classmethod
    def _known(cls, formats: object) -> object:
        if isinstance(formats, list):
            for name in formats:
                if name not in ("w3c", "preserve", *KONG_FORMATS):
                    raise ValueError(f"unknown format '{name}'")
        return formats


ResourceValue = Annotated[str, StringConstraints(min_length=1)]


class OpenTelemetryConfig(PluginConfig):
    traces_endpoint: Annotated[str, AfterValidator(collector_url)] = Field(
        json_schema_extra=REFERENCEABLE, description=(
            "The OTLP/HTTP traces endpoint (e.g. `http://otel-collector:4318/v1/traces`); spans are sent as "
            "protobuf."))
    logs_endpoint: None = Field(default=None, description=(
        "Kong's OTLP logs endpoint: not supported, leave it unset (use http-log or file-log for logs)."))
    headers: dict[HeaderName, str] | None = Field(default=None, json_schema_extra=REFERENCEABLE, description=(
        "Headers sent with every export (e.g. an APM token)."))
    resource_attributes: dict[str, ResourceValue] | None = Field(default=None, description=(
        "Attributes of the OpenTelemetry resource. `service.name` (default `kong`), `service.version` (the "
        "oidcgate version) and `service.instance.id` (the node id) are set unless given here."))
    queue: QueueConfig = Field(default_factory=lambda: QueueConfig(max_batch_size=200), description=(
        "Kong's queue for spans (a batch is one export); max_batch_size defaults to 200."))
    connect_timeout: int = Field(default=1000, ge=0, le=2**31 - 2, description="Milliseconds to connect.")
    send_timeout: int = Field(default=5000, ge=0, le=2**31 - 2, description="Milliseconds to send an export.")
    read_timeout: int = Field(default=5000, ge=0, le=2**31 - 2, description="Milliseconds to read the answer.")
    http_response_header_for_traceid: None = Field(default=None, description=(
        "Kong's response header carrying the trace id: not supported, leave it unset (the trace id is in "
        "the access log and in log plugins' entries)."))
    header_type: Literal["preserve"] = Field(default="preserve", description=(
        "Kong's deprecated form of `propagation`: only its default, `preserve`."))
    sampling_rate: float | None = Field(default=None, ge=0, le=1, description=(
        "Probability that a request is traced, decided from its trace id (so every gateway on the way agrees). "
        "A request whose `traceparent` says it is not sampled is not traced. Unset: every request is "
        "(Kong falls back to kong.conf's `tracing_sampling_rate`; oidcgate has no such file)."))
    propagation: Propagation = Field(default_factory=Propagation, description=(
        "Kong's propagation record: extraction, clearing and injection of trace context headers."))
