"""opentelemetry (with prometheus and http-log beside it) through a real `oidcgate dp` in front of `oidcgate echo`,
authenticating against a real `oidcgate idp`: OTLP spans decoded with opentelemetry-proto (parent and
child, attributes), `traceparent` as the upstream received it, the trace id in the access log, sampling,
and who the request was in the metrics and log entries."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.idp.helpers import running_idp
from tests.plugins.observability.collector import Collector
from tests.plugins.observability.gateway import Gateway, gateway
from tests.plugins.prometheus.test_e2e import labels, samples
from tests.support.polling import wait_until

pytestmark = pytest.mark.e2e


@dataclass
class Stack:
    gate: Gateway
    collector: Collector
    client_id: str
    auth: tuple[str, str]

    def get(self, path: str, traceparent: str | None = None) -> httpx.Response:
        headers = {"traceparent": traceparent} if traceparent else {}
        return self.gate.get(path, auth=self.auth, headers=headers)

    def spans(self) -> list[tuple[Any, Span]]:
        """(resource, span) of everything exported so far."""
        found = []
        for received in list(self.collector.received):
            if received.path == "/v1/traces":
                assert received.headers["content-type"] == "application/x-protobuf"
                for resource_spans in ExportTraceServiceRequest.FromString(received.body).resource_spans:
                    for scope in resource_spans.scope_spans:
                        found += [(resource_spans.resource, span) for span in scope.spans]
        return found

    def trace(self, trace_id: str) -> dict[str, Span]:
        """The spans of one trace by name (waiting until its request span arrived)."""
        wanted = bytes.fromhex(trace_id)
        wait_until(lambda: any(s.trace_id == wanted and s.name == "kong" for _, s in self.spans()))
        return {s.name: s for _, s in self.spans() if s.trace_id == wanted}


def document(echo_port: int, issuer: str, client_id: str, collector: Collector) -> dict[str, Any]:
    tracing = {"traces_endpoint": f"{collector.url}/v1/traces", "headers": {"X-Apm-Token": "apm"},
               "resource_attributes": {"service.name": "edge-gateway"},
               "queue": {"max_batch_size": 10, "max_coalescing_delay": 0.05}}
    return {
        "_format_version": "3.0",
        "services": [{"name": "echo", "url": f"http://127.0.0.1:{echo_port}/anything", "routes": [
            {"name": "traced", "paths": ["/traced"], "plugins": [
                {"name": "openid-connect", "config": {"issuer": issuer, "scopes": ["orders:read"],
                                                      "consumer_claim": ["sub"], "consumer_by": ["username"]}},
                {"name": "prometheus", "config": {"status_code_metrics": True, "per_consumer": True}},
                {"name": "http-log", "config": {"http_endpoint": f"{collector.url}/logs",
                                                "queue": {"max_coalescing_delay": 0}}}]},
            {"name": "unsampled", "paths": ["/unsampled"], "plugins": [
                {"name": "opentelemetry", "config": {**tracing, "sampling_rate": 0}}]},
        ]}],
        "consumers": [{"username": client_id}],
        "plugins": [{"name": "opentelemetry", "config": tracing}],
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work: Path = tmp_path_factory.mktemp("otel")
    collector = Collector().start()
    with running_idp(work) as idp:
        client = idp.cc_client(scopes=("orders:read",))
        with gateway(work, lambda echo: document(echo, idp.issuer(), client["client_id"], collector)) as gate:
            yield Stack(gate, collector, client["client_id"], (client["client_id"], client["client_secret"]))
    collector.stop()


def upstream_traceparent(response: httpx.Response) -> str:
    headers = {k.lower(): v for k, v in response.json()["headers"].items()}
    return str(headers["traceparent"])


def attributes(span: Span) -> dict[str, Any]:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in span.attributes}


def test_spans_of_a_request_its_plugins_idp_calls_and_upstream(stack: Stack) -> None:
    trace_id, client_span = secrets.token_hex(16), secrets.token_hex(8)
    response = stack.get("/traced/orders?page=3", f"00-{trace_id}-{client_span}-01")
    assert response.status_code == 200
    version, upstream_trace, parent, flags = upstream_traceparent(response).split("-")
    assert (version, upstream_trace, flags) == ("00", trace_id, "01")

    spans = stack.trace(trace_id)
    root, access, balancer = spans["kong"], spans["kong.access.plugin.openid-connect"], spans["kong.balancer"]
    assert root.kind == Span.SpanKind.SPAN_KIND_SERVER and root.parent_span_id.hex() == client_span
    assert attributes(root) == {
        "http.method": "GET", "http.url": f"http://127.0.0.1:{stack.gate.port}/traced/orders?page=REDACTED",
        "http.host": "127.0.0.1", "http.scheme": "http", "http.flavor": "1.1", "http.client_ip": "127.0.0.1",
        "net.peer.ip": "127.0.0.1", "http.status_code": 200}
    assert access.kind == Span.SpanKind.SPAN_KIND_INTERNAL and access.parent_span_id == root.span_id
    assert balancer.kind == Span.SpanKind.SPAN_KIND_CLIENT and balancer.parent_span_id == root.span_id
    assert balancer.span_id.hex() == parent  # the upstream's spans are the balancer span's children
    assert attributes(balancer) == {"try_count": 1, "net.peer.ip": "127.0.0.1", "net.peer.port": stack.gate.echo_port,
                                    "http.status_code": 200}
    calls = [s for _, s in stack.spans() if s.trace_id == root.trace_id and s.name == "kong.internal.request"]
    urls = {attributes(s)["http.url"] for s in calls}
    assert any(url.endswith("/v1/token") for url in urls), urls  # getting the token for the client credentials
    for call in calls:
        assert call.parent_span_id == access.span_id and call.kind == Span.SpanKind.SPAN_KIND_CLIENT
        assert attributes(call)["http.status_code"] == 200 and attributes(call)["http.method"] in ("GET", "POST")
    for span in (access, balancer, *calls):
        assert root.start_time_unix_nano <= span.start_time_unix_nano <= span.end_time_unix_nano
        assert span.end_time_unix_nano <= root.end_time_unix_nano + 1_000_000  # (1 ms: two clocks)
    assert access.end_time_unix_nano <= balancer.start_time_unix_nano + 1_000_000
    resource = next(r for r, s in stack.spans() if s.span_id == root.span_id)
    assert {kv.key: kv.value.string_value for kv in resource.attributes} == {
        "service.name": "edge-gateway", "service.version": stack.gate.status()["version"],
        "service.instance.id": stack.gate.status()["node_id"]}
    exports = [r for r in stack.collector.received if r.path == "/v1/traces"]
    assert exports and all(r.headers["x-apm-token"] == "apm" for r in exports)
    assert all(b"SECRET" not in r.body for r in exports)

    def traced() -> list[dict[str, Any]]:
        return [e for e in map(json.loads, stack.gate.access_log.read_text().splitlines()) if e.get("trace_id") == trace_id]

    wait_until(traced)
    log = traced()
    assert log[0]["path"] == "/traced/orders" and log[0]["status"] == 200


def test_a_new_trace_without_traceparent_and_the_parents_no_sample_kept(stack: Stack) -> None:
    fresh = stack.get("/traced/new")
    _, trace_id, parent, flags = upstream_traceparent(fresh).split("-")
    assert flags == "01"
    spans = stack.trace(trace_id)
    assert spans["kong"].parent_span_id == b"" and spans["kong.balancer"].span_id.hex() == parent

    declined = secrets.token_hex(16)
    unsampled = stack.get("/traced/declined", f"00-{declined}-{secrets.token_hex(8)}-00")
    assert upstream_traceparent(unsampled).split("-")[1:4:2] == [declined, "00"]
    never = secrets.token_hex(16)
    rate_zero = stack.gate.get("/unsampled/x", headers={"traceparent": f"00-{never}-{secrets.token_hex(8)}-01"})
    assert upstream_traceparent(rate_zero).split("-")[1:4:2] == [never, "00"]  # injected, though not sampled
    after = secrets.token_hex(16)
    stack.get("/traced/after", f"00-{after}-{secrets.token_hex(8)}-01")
    stack.trace(after)  # spans are exported in order: those of the requests before would be here by now
    exported = {s.trace_id.hex() for _, s in stack.spans()}
    assert declined not in exported and never not in exported


def test_a_request_that_matched_no_route_is_traced_by_the_global_instance(stack: Stack) -> None:
    trace_id = secrets.token_hex(16)
    assert stack.gate.get("/nowhere", headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
                          ).status_code == 404
    spans = stack.trace(trace_id)
    assert set(spans) == {"kong"} and attributes(spans["kong"])["http.status_code"] == 404


def test_who_the_request_was_in_metrics_and_log_entries(stack: Stack) -> None:
    trace_id = secrets.token_hex(16)
    for _ in range(2):  # the second takes openid-connect's shortcut: the consumer is known all the same
        response = stack.get("/traced/who", f"00-{trace_id}-{secrets.token_hex(8)}-01")
        assert response.status_code == 200
    token = {k.lower(): v for k, v in response.json()["headers"].items()}["authorization"].split()[1]
    def logged() -> list[dict[str, Any]]:
        return [e for r in list(stack.collector.received) if r.path == "/logs" for e in [r.json()]
                if e["request"]["uri"] == "/traced/who"]

    wait_until(lambda: len(logged()) >= 2)
    entries = logged()
    assert len(entries) == 2
    for entry in entries:
        assert entry["consumer"]["username"] == stack.client_id
        assert entry["authenticated_entity"]["consumer_id"] == entry["consumer"]["id"]
        assert entry["authenticated_entity"]["id"]
        assert entry["trace_id"] == {"w3c": trace_id}
        assert entry["request"]["headers"]["authorization"] == "REDACTED"
    found = samples(stack.gate.metrics())
    assert found[("kong_http_requests_total", labels(service="echo", route="traced", code="200", source="service",
                                                     consumer=stack.client_id))] >= 2
    # neither the client secret (sent as Basic credentials) nor the token the gateway got for it, anywhere
    written = [r.body for r in list(stack.collector.received)] + [stack.gate.access_log.read_bytes()]
    for secret in (stack.auth[1].encode(), token.encode(), token.split(".")[2].encode()):
        assert not any(secret in body for body in written)
