"""What the prometheus plugin exports of the route counters, in process: switches, consumers, Kong's buckets,
workers added up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from oidcgate.config.entities import Consumer
from oidcgate.plugins import counters
from oidcgate.plugins.pdk import PluginEnv
from oidcgate.plugins.prometheus import stats
from oidcgate.plugins.prometheus.exporter import Scrape, render
from oidcgate.plugins.prometheus.schema import PrometheusConfig
from oidcgate.proxy.metrics import FOLD_AT, WorkerStats

ALICE = Consumer(id="9a3c8f6e-3b1e-4d6f-9c3a-2f1b0e7d5c4a", username="alice")


@dataclass
class Finished:
    """A finished request as the data plane's exchange holds it (what a Recorder reads)."""

    status: int
    t_head: float = 1.0
    bytes_in: int = 10
    bytes_out: int = 100
    consumer: Consumer | None = None

    def head_size(self) -> int:
        return 50


def counted(core: WorkerStats, *requests: tuple[int, bool, float, float, float]) -> None:
    """Count requests in the route ("svc", "r") as Exchange._record does: (status, answered by the upstream,
    request, upstream, kong latency in ms)."""
    route = core.child("svc", "r")
    for status, upstream, total, waited, before in requests:
        code = status if upstream else -status
        route.codes[code] = route.codes.get(code, 0) + 1
        route.pending_total.append(total)
        if upstream:
            route.pending_upstream.append(waited)
        if route.pending_kong is not None:
            route.pending_kong.append(before if upstream else total)


def scrape(*reports: list[dict[str, Any]], retired: tuple[list[dict[str, Any]], ...] = ()) -> Scrape:
    def report(exported: list[dict[str, Any]], index: int) -> dict[str, Any]:
        return {"prometheus": exported, "counters": counters.dump(), "pid": index, "index": index, "rss": 1,
                "upstreams": {}}

    return Scrape([report(r, i) for i, r in enumerate(reports)], [report(r, -1) for r in retired], "node", "host",
                  "1.0", "ab", 1.0, False)


def families(text: bytes) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    return {f.name: [(s.name, s.labels, s.value) for s in f.samples]
            for f in text_string_to_metric_families(text.decode())}


def test_only_what_an_instance_exports() -> None:
    core, env = WorkerStats(), PluginEnv()
    counted(core, (200, True, 12, 9, 2), (502, False, 3, 0, 0))
    assert stats.dump(core, env) == []  # no prometheus instance on the route
    core.child("svc", "r").export(stats.Switches(status=True))
    assert stats.dump(core, env) == [{"service": "svc", "route": "r", "latency": {}, "bandwidth": [],
                                      "codes": [[200, "service", "", 1], [502, "kong", "", 1]]}]
    core.child("svc", "r").export(stats.Switches())  # Kong's defaults: every switch off
    assert stats.dump(core, env) == []


def test_the_consumer_label_splits_the_routes_codes() -> None:
    core, env = WorkerStats(), PluginEnv()
    route = core.child("svc", "r")
    route.export(stats.Switches(status=True, bandwidth=True, per_consumer=True))
    record = stats.Recorder(stats.extras(env, route), PrometheusConfig(
        status_code_metrics=True, bandwidth_metrics=True, per_consumer=True)).record
    for finished in (Finished(200, consumer=ALICE), Finished(200), Finished(401, t_head=0.0)):
        counted(core, (finished.status, bool(finished.t_head), 1, 1, 1))
        record(finished, 1.0)
    found = families(render(scrape(stats.dump(core, env))))
    assert sorted((s[1]["code"], s[1]["source"], s[1]["consumer"], s[2]) for s in found["kong_http_requests"]) == [
        ("200", "service", "", 1), ("200", "service", "alice", 1), ("401", "kong", "", 1)]
    assert sorted((s[1]["direction"], s[1]["consumer"], s[2]) for s in found["kong_bandwidth_bytes"]) == [
        ("egress", "", 200), ("egress", "alice", 100), ("ingress", "", 120), ("ingress", "alice", 60)]


def test_latencies_in_kongs_buckets_with_kongs_meaning() -> None:
    core, env = WorkerStats(), PluginEnv()
    core.child("svc", "r").export(stats.Switches(latency=True), latency=True)
    counted(core, (200, True, 50, 30, 2),  # 50 ms in all: 2 before the upstream, 30 upstream
            (502, False, 7, 0, 0))  # answered by the gateway after 7 ms: no upstream latency
    found = families(render(scrape(stats.dump(core, env))))

    def buckets(name: str) -> dict[str, float]:
        return {s[1]["le"]: s[2] for s in found[name] if s[0].endswith("_bucket")}

    assert buckets("kong_request_latency_ms")["25"] == 1 and buckets("kong_request_latency_ms")["50"] == 2
    assert buckets("kong_upstream_latency_ms")["25"] == 0 and buckets("kong_upstream_latency_ms")["50"] == 1
    assert buckets("kong_upstream_latency_ms")["+Inf"] == 1  # only the proxied request
    assert buckets("kong_kong_latency_ms")["2"] == 1 and buckets("kong_kong_latency_ms")["5"] == 1
    assert buckets("kong_kong_latency_ms")["7"] == 2  # (`le`: 7 ms is in the 7 bucket)
    sums = {s[0]: s[2] for name in found for s in found[name] if s[0].endswith("_sum")}
    assert sums["kong_request_latency_ms_sum"] == 57 and sums["kong_kong_latency_ms_sum"] == 9


def test_latencies_fold_in_batches_and_nothing_is_lost() -> None:
    core, env = WorkerStats(), PluginEnv()
    route = core.child("svc", "r")
    route.export(stats.Switches(latency=True), latency=True)
    counted(core, *[(200, True, 5, 3, 1)] * (FOLD_AT + 10))
    route.fold()
    assert not route.pending_total and route.pending_kong is not None and not route.pending_kong
    (exported,) = stats.dump(core, env)
    assert all(sum(counts) == FOLD_AT + 10 for counts, _ in exported["latency"].values())


def test_workers_and_exited_workers_add_up() -> None:
    dumps = []
    for n in (3, 4, 5):
        core = WorkerStats()
        core.child("svc", "r").export(stats.Switches(status=True, latency=True), latency=True)
        counted(core, *[(200, True, 1, 1, 1)] * n)
        dumps.append(stats.dump(core, PluginEnv()))
    found = families(render(scrape(dumps[0], dumps[1], retired=(dumps[2],))))
    assert [s[2] for s in found["kong_http_requests"]] == [12]
    assert [s[2] for s in found["kong_request_latency_ms"] if s[0].endswith("_count")] == [12]


def test_plugin_counters_are_summed_like_the_rest() -> None:
    counter = counters.Counter("test_things_total", "Things counted by a test", ("kind",), [("a",)])
    counter.inc("b", amount=2)
    one = counters.dump()
    counter.inc("b")
    two = counters.dump()
    merged = counters.merge([one, two])
    assert merged["test_things_total"][2] == {("a",): 0, ("b",): 5}
