"""Observer plugins on compiled routes: they stay out of the plugin chain (the fast path is kept), each route
gets the call its observers need, and the global ones see requests that matched no route."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from oidcgate.config import load
from oidcgate.http.fields import HeaderFields
from oidcgate.plugins import registry
from oidcgate.plugins.opentelemetry.handler import OpenTelemetryHandler
from oidcgate.plugins.pdk import PluginEnv
from oidcgate.plugins.prometheus.stats import Recorder
from oidcgate.proxy.metrics import WorkerStats
from oidcgate.proxy.observers import Observed, begin_trace
from oidcgate.proxy.runtime import RouteRuntime, compile_snapshot

UP = "http://127.0.0.1:9"
LOG = {"name": "http-log", "config": {"http_endpoint": "http://127.0.0.1:9/logs"}}
METRICS = {"name": "prometheus", "config": {"status_code_metrics": True}}
TRACE = {"name": "opentelemetry", "config": {"traces_endpoint": "http://127.0.0.1:9/v1/traces"}}


def routes(doc: dict[str, Any]) -> dict[str, RouteRuntime]:
    return {r.name: r for r in compile_snapshot(load(doc, registry.config_schema), PluginEnv(), WorkerStats()).routes}


def test_observers_keep_the_fast_path_and_cost_what_they_need() -> None:
    doc = {"_format_version": "3.0", "services": [{"name": "s", "url": UP, "routes": [
        {"name": "plain", "paths": ["/plain"]},
        {"name": "metered", "paths": ["/metered"], "plugins": [METRICS]},
        {"name": "bandwidth", "paths": ["/bandwidth"], "plugins": [
            {"name": "prometheus", "config": {"bandwidth_metrics": True}}]},
        {"name": "logged", "paths": ["/logged"], "plugins": [METRICS, LOG]},
        {"name": "traced", "paths": ["/traced"], "plugins": [TRACE]},
        {"name": "transformed", "paths": ["/transformed"], "plugins": [
            METRICS, {"name": "request-transformer", "config": {}}]}]}]}
    found = routes(doc)
    assert all(found[name].chain is None for name in ("plain", "metered", "logged", "traced"))
    assert found["plain"].observe is None and found["plain"].tracer is None and not found["plain"].logged
    metered = found["metered"]  # what every request's counters hold anyway: no call per request
    assert metered.observe is None and metered.stats.exported is not None and not metered.logged
    assert found["plain"].stats.exported is None
    bandwidth = found["bandwidth"].observe  # bytes in and out: a call per request
    assert isinstance(getattr(bandwidth, "__self__", None), Recorder)
    logged = found["logged"].observe
    assert isinstance(getattr(logged, "__self__", None), Observed) and found["logged"].logged
    assert found["traced"].tracer is not None and found["traced"].observe is not None
    transformed = found["transformed"]
    assert transformed.chain is not None and [s.name for s in transformed.chain.slots] == ["request-transformer"]


def test_global_observers_see_requests_that_matched_no_route() -> None:
    doc = {"_format_version": "3.0", "services": [{"name": "s", "url": UP, "routes": [{"paths": ["/"]}]}],
           "plugins": [LOG]}
    assert compile_snapshot(load(doc, registry.config_schema), PluginEnv(), WorkerStats()).unmatched is not None
    scoped = {"_format_version": "3.0", "services": [{"name": "s", "url": UP, "routes": [
        {"name": "r", "paths": ["/"], "plugins": [LOG]}]}]}
    assert compile_snapshot(load(scoped, registry.config_schema), PluginEnv(), WorkerStats()).unmatched is None


def test_traceparent_replaces_the_clients_upstream_and_the_plugins_still_see_the_clients() -> None:
    tracer = OpenTelemetryHandler(OpenTelemetryHandler.validate_config({
        "traces_endpoint": "http://127.0.0.1:9/v1/traces", "propagation": {"clear": ["X-B3-TraceId"]}}), PluginEnv())
    client = HeaderFields.of([("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
                              ("X-B3-TraceId", "abc"), ("Authorization", "Bearer t"), ("Accept", "*/*")])
    exchange = SimpleNamespace(fields=client, client_fields=client, trace=None)
    begin_trace(exchange, tracer)  # type: ignore[arg-type]
    assert [name for name, _ in exchange.fields] == [b"Authorization", b"Accept", b"traceparent"]
    value = exchange.fields.first(b"traceparent")
    assert value is not None and value.startswith(b"00-4bf92f3577b34da6a3ce929d0e0e4736-") and value.endswith(b"-01")
    assert value.split(b"-")[2] == exchange.trace.upstream_id.hex().encode()
    assert len(client) == 4 and client.first(b"x-b3-traceid") == b"abc"  # what plugins read: as the client sent it
