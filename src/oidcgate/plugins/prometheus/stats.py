"""Per-worker request counters of the prometheus plugin: what one request costs, and what a scrape reads.

A request on a route with a prometheus instance costs one call: a dict update for the status code and
three array appends for the latencies, in seconds as the clock gives them (C appends, no arithmetic on
milliseconds, no prometheus_client object). Every FOLD_AT requests, on the worker tick and before every
dump, the latencies are sorted and counted into Kong's buckets with one bisect per bucket, so the
histograms cost O(buckets) Python operations per FOLD_AT requests (and a fold of 1,024 latencies takes
a fraction of a millisecond: no pause a client would notice). Counting each latency into its bucket as
it comes would cost more: a sort in C is cheaper than a bisect, an index and an add per value in Python.

Counters belong to a (service, route) label pair and survive snapshot swaps, so they never go back;
which of them a request feeds is the route's instance's choice (its switches), made once per snapshot.
The master adds the workers' dumps up (exporter.merge_routes).
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from typing import Any

from oidcgate.plugins.observer import Timed
from oidcgate.plugins.prometheus.schema import PrometheusConfig

# Kong's buckets, in milliseconds: kong_kong_latency_ms, then kong_upstream_latency_ms and
# kong_request_latency_ms (the same buckets, as in Kong).
KONG_BUCKETS: tuple[float, ...] = (1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000, 3000, 6000)
UPSTREAM_BUCKETS: tuple[float, ...] = (25, 50, 80, 100, 250, 400, 700, 1000, 2000, 5000, 10000, 30000, 60000)
HISTOGRAMS = (("request", UPSTREAM_BUCKETS), ("upstream", UPSTREAM_BUCKETS), ("kong", KONG_BUCKETS))
FOLD_AT = 1024  # latencies a route keeps before they are counted into buckets


class Histogram:
    """Bucket counts (the last one is +Inf, not cumulative) and the sum of the observed values, in ms;
    `pending` holds the values not counted yet, in seconds."""

    __slots__ = ("bounds", "counts", "pending", "total")

    def __init__(self, bounds_ms: tuple[float, ...]) -> None:
        self.bounds = tuple(bound / 1000 for bound in bounds_ms)
        self.counts = [0] * (len(bounds_ms) + 1)
        self.total = 0.0
        self.pending = array("d")

    def fold(self) -> None:
        """Count the pending values into the buckets (`le`: a value equal to a bound is in its bucket)."""
        pending = self.pending
        if not pending:
            return
        values = sorted(pending)
        below = 0
        counts = self.counts
        for index, bound in enumerate(self.bounds):
            upto = bisect_right(values, bound)
            counts[index] += upto - below
            below = upto
        counts[-1] += len(values) - below
        self.total += sum(values) * 1000.0
        del pending[:]  # in place: recorders hold this array


class RouteStats:
    """The counters of one (service, route) label pair in one worker.

    `codes` maps a status code to its count, negated when the gateway answered itself (Kong's `source`
    label: "kong" rather than "service"); `by_consumer` holds such dicts per consumer username."""

    __slots__ = ("by_consumer", "codes", "egress", "histograms", "ingress", "route", "service")

    def __init__(self, service: str, route: str) -> None:
        self.service = service
        self.route = route
        self.codes: dict[int, int] = {}
        self.by_consumer: dict[str, dict[int, int]] = {}
        self.histograms = {name: Histogram(bounds) for name, bounds in HISTOGRAMS}
        self.ingress: dict[str, int] = {}  # bytes by consumer username ("" for none, or per_consumer off)
        self.egress: dict[str, int] = {}

    def fold(self) -> None:
        for histogram in self.histograms.values():
            histogram.fold()

    def dump(self) -> dict[str, Any] | None:
        """JSON-ready counters, or None while this pair has counted nothing."""
        self.fold()
        codes = [[abs(code), "kong" if code < 0 else "service", "", n] for code, n in self.codes.items()]
        for consumer, counts in self.by_consumer.items():
            codes += [[abs(code), "kong" if code < 0 else "service", consumer, n] for code, n in counts.items()]
        latency = {name: [h.counts, h.total] for name, h in self.histograms.items() if any(h.counts)}
        bandwidth = [["ingress", consumer, n] for consumer, n in self.ingress.items()] + [
            ["egress", consumer, n] for consumer, n in self.egress.items()]
        if not (codes or latency or bandwidth):
            return None
        return {"service": self.service, "route": self.route, "codes": codes, "latency": latency,
                "bandwidth": bandwidth}


class WorkerStats:
    """Every RouteStats of one worker, by (service, route); they outlive snapshots."""

    def __init__(self) -> None:
        self.children: dict[tuple[str, str], RouteStats] = {}

    def child(self, service: str, route: str) -> RouteStats:
        stats = self.children.get((service, route))
        if stats is None:
            stats = self.children[(service, route)] = RouteStats(service, route)
        return stats

    def fold(self) -> None:
        for stats in self.children.values():
            stats.fold()

    def dump(self) -> list[dict[str, Any]]:
        return [found for stats in self.children.values() if (found := stats.dump()) is not None]


class Recorder:
    """One prometheus instance's counting on one route: `record` is what a finished request costs."""

    __slots__ = ("bandwidth", "by_consumer", "codes", "egress", "ingress", "kong", "latency", "per_consumer",
                 "request", "stats", "status_codes", "upstream")

    def __init__(self, stats: RouteStats, config: PrometheusConfig) -> None:
        self.stats = stats
        self.status_codes = config.status_code_metrics
        self.latency = config.latency_metrics
        self.bandwidth = config.bandwidth_metrics
        self.per_consumer = config.per_consumer
        self.codes, self.by_consumer = stats.codes, stats.by_consumer
        self.ingress, self.egress = stats.ingress, stats.egress
        self.request, self.upstream, self.kong = (h.pending for h in stats.histograms.values())

    def record(self, request: Timed, end: float) -> None:
        t_head = request.t_head
        username = ""
        if self.per_consumer:
            consumer = request.consumer
            if consumer is not None:
                username = consumer.username or ""
        if self.status_codes:
            code = request.status if t_head else -request.status
            codes = self.by_consumer.setdefault(username, {}) if username else self.codes
            codes[code] = codes.get(code, 0) + 1
        if self.latency:
            t0 = request.t0
            pending = self.request
            pending.append(end - t0)
            if t_head:
                t_sent = request.t_sent
                self.upstream.append(t_head - t_sent)
                self.kong.append(t_sent - t0)  # Kong's kong latency: until the request went upstream
            else:
                self.kong.append(end - t0)
            if len(pending) >= FOLD_AT:
                self.stats.fold()  # in small batches: never a long pause
        if self.bandwidth:
            ingress, egress = self.ingress, self.egress
            ingress[username] = ingress.get(username, 0) + request.head_size() + request.bytes_in
            if request.bytes_out:
                egress[username] = egress.get(username, 0) + request.bytes_out
