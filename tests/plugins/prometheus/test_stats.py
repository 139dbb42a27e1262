"""The prometheus plugin's counting and exposition, in process: switches, consumers, buckets, workers added up."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from oidcgate.config.entities import Consumer
from oidcgate.plugins import counters
from oidcgate.plugins.prometheus.exporter import Scrape, render
from oidcgate.plugins.prometheus.schema import PrometheusConfig
from oidcgate.plugins.prometheus.stats import FOLD_AT, Recorder, RouteStats


@dataclass
class Finished:
    """A finished request as the data plane's exchange holds it (what Recorder.record reads)."""

    status: int
    t0: float = 0.0
    t_sent: float = 0.002  # 2 ms in the gateway
    t_head: float = 0.032  # 30 ms upstream
    bytes_in: int = 10
    bytes_out: int = 100
    consumer: Consumer | None = None

    def head_size(self) -> int:
        return 50


ALICE = Consumer(id="9a3c8f6e-3b1e-4d6f-9c3a-2f1b0e7d5c4a", username="alice")


def scrape(*reports: list[dict[str, object]], retired: tuple[list[dict[str, object]], ...] = ()) -> Scrape:
    def report(routes: list[dict[str, object]], index: int) -> dict[str, object]:
        return {"routes": routes, "counters": counters.dump(), "requests": 0, "pid": index, "index": index,
                "rss": 1, "upstreams": {}}

    return Scrape([report(r, i) for i, r in enumerate(reports)], [report(r, -1) for r in retired], "node", "host",
                  "1.0", "ab", 1.0, False)


def families(text: bytes) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    return {f.name: [(s.name, s.labels, s.value) for s in f.samples]
            for f in text_string_to_metric_families(text.decode())}


def test_switches_decide_what_a_request_feeds() -> None:
    stats = RouteStats("svc", "r")
    Recorder(stats, PrometheusConfig(status_code_metrics=True)).record(Finished(200), 1.0)
    dumped = stats.dump()
    assert dumped is not None
    assert dumped["codes"] == [[200, "service", "", 1]] and dumped["latency"] == {} and dumped["bandwidth"] == []
    nothing = RouteStats("svc", "quiet")
    Recorder(nothing, PrometheusConfig()).record(Finished(200), 1.0)  # Kong's defaults: every switch off
    assert nothing.dump() is None


def test_consumer_label_only_with_per_consumer_and_source_kong_without_upstream() -> None:
    stats = RouteStats("svc", "r")
    everything = PrometheusConfig(status_code_metrics=True, bandwidth_metrics=True, per_consumer=True)
    Recorder(stats, everything).record(Finished(200, consumer=ALICE), 1.0)
    Recorder(stats, everything).record(Finished(401, t_head=0.0), 1.0)  # answered by the gateway
    Recorder(stats, PrometheusConfig(status_code_metrics=True)).record(Finished(200, consumer=ALICE), 1.0)
    found = families(render(scrape([stats.dump()])))  # type: ignore[list-item]
    assert sorted((s[1]["code"], s[1]["source"], s[1]["consumer"], s[2]) for s in found["kong_http_requests"]) == [
        ("200", "service", "", 1), ("200", "service", "alice", 1), ("401", "kong", "", 1)]
    assert sorted((s[1]["direction"], s[1]["consumer"], s[2]) for s in found["kong_bandwidth_bytes"]) == [
        ("egress", "", 100), ("egress", "alice", 100), ("ingress", "", 60), ("ingress", "alice", 60)]


def test_latencies_in_kongs_buckets_with_kongs_meaning() -> None:
    stats = RouteStats("svc", "r")
    record = Recorder(stats, PrometheusConfig(latency_metrics=True)).record
    record(Finished(200), 0.050)  # 50 ms in all: 2 before the upstream, 30 upstream
    record(Finished(502, t_head=0.0), 0.007)  # answered by the gateway after 7 ms: no upstream latency
    found = families(render(scrape([stats.dump()])))  # type: ignore[list-item]

    def buckets(name: str) -> dict[str, float]:
        return {s[1]["le"]: s[2] for s in found[name] if s[0].endswith("_bucket")}

    assert buckets("kong_request_latency_ms")["25"] == 1 and buckets("kong_request_latency_ms")["50"] == 2
    assert buckets("kong_upstream_latency_ms")["25"] == 0 and buckets("kong_upstream_latency_ms")["50"] == 1
    assert buckets("kong_upstream_latency_ms")["+Inf"] == 1  # only the proxied request
    assert buckets("kong_kong_latency_ms")["2"] == 1 and buckets("kong_kong_latency_ms")["5"] == 1
    assert buckets("kong_kong_latency_ms")["7"] == 2  # (`le`: 7 ms is in the 7 bucket)
    sums = {s[0]: s[2] for name in found for s in found[name] if s[0].endswith("_sum")}
    assert round(sums["kong_request_latency_ms_sum"]) == 57 and round(sums["kong_kong_latency_ms_sum"]) == 9


def test_latencies_fold_in_batches_and_nothing_is_lost() -> None:
    stats = RouteStats("svc", "r")
    record = Recorder(stats, PrometheusConfig(latency_metrics=True)).record
    for _ in range(FOLD_AT + 10):
        record(Finished(200), 0.1)
    pending = [len(h.pending) for h in stats.histograms.values()]
    assert pending == [10, 10, 10]  # folded once, on its own, when FOLD_AT requests waited
    dumped = stats.dump()
    assert dumped is not None and sum(dumped["latency"]["request"][0]) == FOLD_AT + 10
    assert not any(h.pending for h in stats.histograms.values())


def test_workers_and_exited_workers_add_up() -> None:
    dumps = []
    for n in (3, 4, 5):
        stats = RouteStats("svc", "r")
        for _ in range(n):
            Recorder(stats, PrometheusConfig(status_code_metrics=True, latency_metrics=True)).record(Finished(200), 1.0)
        dumps.append([stats.dump()])
    found = families(render(scrape(dumps[0], dumps[1], retired=(dumps[2],))))  # type: ignore[arg-type]
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
