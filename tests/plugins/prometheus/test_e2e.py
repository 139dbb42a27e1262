"""prometheus through a real `oidcgate dp` (1 and 2 workers): a known traffic mix, then `/metrics` parsed with
prometheus_client's parser, every name, label set and count exact."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.plugins.observability.gateway import Gateway, gateway
from tests.support.processes import free_port

pytestmark = pytest.mark.e2e

EVERYTHING = {"status_code_metrics": True, "latency_metrics": True, "bandwidth_metrics": True}
# (path, status, how many): /metered has an instance of its own, /counted and /pooled the global one
# (status codes only), /broken's service is down (the gateway answers 502), /nowhere matches no route.
MIX = (("/metered/status/201", 201, 5), ("/metered/status/503", 503, 2), ("/counted/status/200", 200, 3),
       ("/broken", 502, 2), ("/nowhere", 404, 2), ("/pooled/get", 200, 1))


def document(echo_port: int, dead_port: int) -> dict[str, Any]:
    echo = f"http://127.0.0.1:{echo_port}"
    return {
        "_format_version": "3.0",
        "services": [
            {"name": "echo", "url": echo, "routes": [
                {"name": "metered", "paths": ["/metered"], "plugins": [{"name": "prometheus", "config": EVERYTHING}]},
                {"name": "counted", "paths": ["/counted"]}]},
            {"name": "down", "url": f"http://127.0.0.1:{dead_port}", "routes": [{"name": "broken", "paths": ["/broken"]}]},
            {"name": "pool", "host": "pool", "routes": [{"name": "pooled", "paths": ["/pooled"]}]},
        ],
        "upstreams": [{"name": "pool", "targets": [{"target": f"127.0.0.1:{echo_port}"}]}],
        "plugins": [{"name": "prometheus", "config": {"status_code_metrics": True, "upstream_health_metrics": True}}],
    }


def raw_get(port: int, path: str) -> tuple[int, int, int]:
    """(status, bytes sent, bytes received): one request on a connection of its own, no header but Host,
    so that the bytes on the wire are known exactly."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536) or b"!"  # (a closed connection fails the parse below)
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
        while len(body) < length:
            body += sock.recv(65536)
    return int(head.split(b" ")[1]), len(request), len(head) + 4 + len(body)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample as prometheus_client's parser reads it, by the name on the wire (the parser calls a
    counter's samples `<family>_total` even when they are not: Kong's kong_bandwidth_bytes)."""
    on_wire = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = family.name if sample.name not in on_wire and family.name in on_wire else sample.name
            found[(name, frozenset(sample.labels.items()))] = sample.value
    return found


def labels(**values: str) -> frozenset[tuple[str, str]]:
    return frozenset(values.items())


@pytest.fixture(scope="module", params=[1, 2], ids=["1-worker", "2-workers"])
def traffic(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, int, dict[str, Any]]]:
    """A data plane that served MIX; yields it, its worker count and what went over the wire on /metered."""
    work: Path = tmp_path_factory.mktemp("prometheus")
    dead = free_port()
    with gateway(work, lambda echo: document(echo, dead), workers=request.param) as gate:
        wire = {"ingress": 0, "egress": 0}
        for path, status, count in MIX:
            for _ in range(count):
                got, sent, received = raw_get(gate.port, path)
                assert got == status, path
                if path.startswith("/metered"):
                    wire["ingress"] += sent
                    wire["egress"] += received
        yield gate, request.param, wire


def test_requests_by_service_route_code_and_source(traffic: tuple[Gateway, int, dict[str, Any]]) -> None:
    gate, _, _ = traffic
    found = samples(gate.metrics())
    requests = {key: value for key, value in found.items() if key[0] == "kong_http_requests_total"}
    consumer = ""
    assert requests == {
        ("kong_http_requests_total", labels(service="echo", route="metered", code="201", source="service",
                                            consumer=consumer)): 5,
        ("kong_http_requests_total", labels(service="echo", route="metered", code="503", source="service",
                                            consumer=consumer)): 2,
        ("kong_http_requests_total", labels(service="echo", route="counted", code="200", source="service",
                                            consumer=consumer)): 3,
        ("kong_http_requests_total", labels(service="down", route="broken", code="502", source="kong",
                                            consumer=consumer)): 2,
        ("kong_http_requests_total", labels(service="pool", route="pooled", code="200", source="service",
                                            consumer=consumer)): 1,
    }
    total = sum(count for _, _, count in MIX)
    status = gate.status()
    node = status["node_id"]
    assert found[("kong_nginx_requests_total", labels(node_id=node, subsystem="http"))] == total
    assert found[("kong_nginx_connections_total", labels(node_id=node, subsystem="http", state="total"))] == total
    assert found[("kong_nginx_connections_total", labels(node_id=node, subsystem="http", state="accepted"))] >= total
    assert status["server"]["total_requests"] == total


def test_latency_histograms_only_where_asked(traffic: tuple[Gateway, int, dict[str, Any]]) -> None:
    gate, _, _ = traffic
    found = samples(gate.metrics())
    for metric, bounds in (("kong_request_latency_ms", ("25", "60000")), ("kong_upstream_latency_ms", ("25", "60000")),
                           ("kong_kong_latency_ms", ("1", "6000"))):
        series = {key: value for key, value in found.items() if key[0].startswith(metric)}
        where = labels(service="echo", route="metered")
        assert series[(f"{metric}_count", where)] == 7
        assert series[(f"{metric}_bucket", where | {("le", "+Inf")})] == 7
        les = [dict(key[1])["le"] for key in series if key[0] == f"{metric}_bucket"]
        assert (les[0], les[-2]) == bounds  # Kong's buckets, in order
        counts = [series[(f"{metric}_bucket", where | {("le", le)})] for le in les]
        assert counts == sorted(counts)  # cumulative
        assert series[(f"{metric}_sum", where)] > 0
        assert {dict(key[1])["route"] for key in series} == {"metered"}  # the global instance has no latencies


def test_bandwidth_is_what_went_over_the_wire(traffic: tuple[Gateway, int, dict[str, Any]]) -> None:
    gate, _, wire = traffic
    found = samples(gate.metrics())
    bandwidth = {key: value for key, value in found.items() if key[0] == "kong_bandwidth_bytes"}
    assert bandwidth == {
        ("kong_bandwidth_bytes", labels(service="echo", route="metered", direction="ingress", consumer="")):
            wire["ingress"],
        ("kong_bandwidth_bytes", labels(service="echo", route="metered", direction="egress", consumer="")):
            wire["egress"],
    }


def test_node_health_and_plugin_counters(traffic: tuple[Gateway, int, dict[str, Any]]) -> None:
    gate, workers, _ = traffic
    found = samples(gate.metrics())
    status = gate.status()
    node = status["node_id"]
    target = f"127.0.0.1:{gate.echo_port}"
    for state in ("healthchecks_off", "healthy", "unhealthy", "dns_error"):
        assert found[("kong_upstream_target_health", labels(
            upstream="pool", target=target, address=target, state=state, subsystem="http"))] == (
            state == "healthchecks_off")
    assert found[("kong_data_plane_config_hash", labels(node_id=node, hostname=status["hostname"], ip=""))] == float(
        int(status["configuration_hash"], 16))
    assert found[("kong_node_info", labels(node_id=node, version=status["version"]))] == 1
    assert found[("kong_datastore_reachable", frozenset())] == 1
    assert found[("oidcgate_workers", frozenset())] == workers
    pids = {str(w["pid"]) for w in status["workers"]}
    memory = {dict(key[1])["pid"]: value for key, value in found.items()
              if key[0] == "kong_memory_workers_lua_vms_bytes"}
    assert set(memory) == pids and all(value > 0 for value in memory.values())
    # openid-connect's counters are the workers' too, summed the same way (no call made here)
    assert found[("oidcgate_oidc_provider_requests_total", labels(endpoint="token"))] == 0
    assert ("kong_control_plane_connected", frozenset()) not in found  # not in hybrid mode


def test_kongs_grafana_dashboard_finds_its_series(traffic: tuple[Gateway, int, dict[str, Any]]) -> None:
    """The names and labels the queries of Kong's published dashboard (kong-official.json) select and group
    by (its Lua shared-dict memory panel aside: there is no Lua here)."""
    gate, _, _ = traffic
    found = samples(gate.metrics())
    wanted = {"kong_http_requests_total": {"service", "route", "code"},
              "kong_kong_latency_ms_bucket": {"service", "route", "le"},
              "kong_request_latency_ms_bucket": {"service", "route", "le"},
              "kong_upstream_latency_ms_bucket": {"service", "route", "le"},
              "kong_bandwidth_bytes": {"service", "route", "direction"},
              "kong_nginx_connections_total": {"state"},
              "kong_upstream_target_health": {"upstream", "target", "address", "state"},
              "kong_memory_workers_lua_vms_bytes": {"pid", "kong_subsystem"}}
    for name, names in wanted.items():
        assert any(key[0] == name and names <= {label for label, _ in key[1]} for key in found), name
    states = {dict(key[1])["state"] for key in found if key[0] == "kong_nginx_connections_total"}
    assert {"active", "reading", "writing", "waiting", "total", "handled", "accepted"} <= states
