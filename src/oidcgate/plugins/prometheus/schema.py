"""The `config` of prometheus: Kong's switches and defaults (every metric family off until asked for)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from oidcgate.plugins.base import PluginConfig


class PrometheusConfig(PluginConfig):
    per_consumer: bool = Field(default=False, description=(
        "Fill in the `consumer` label of `kong_http_requests_total` and `kong_bandwidth_bytes` (the "
        "consumer's username) when a consumer is authenticated."))
    status_code_metrics: bool = Field(default=False, description=(
        "Collect `kong_http_requests_total` (by service, route, status code, source and consumer)."))
    latency_metrics: bool = Field(default=False, description=(
        "Collect the `kong_request_latency_ms`, `kong_upstream_latency_ms` and `kong_kong_latency_ms` "
        "histograms."))
    bandwidth_metrics: bool = Field(default=False, description=(
        "Collect `kong_bandwidth_bytes` (ingress: request line, header fields and body; egress: response "
        "bytes written)."))
    upstream_health_metrics: bool = Field(default=False, description=(
        "Export `kong_upstream_target_health`. A switch for the whole data plane, as in Kong: on when any "
        "prometheus instance turns it on."))
    ai_metrics: Literal[False] = Field(default=False, description=(
        "Kong's AI metrics: accepted (so configurations exported from Kong load) but only false, since "
        "oidcgate has no AI plugins."))
    wasm_metrics: Literal[False] = Field(default=False, description=(
        "Kong's Wasm metrics: accepted, only false (oidcgate runs no Wasm filters)."))
