"""The data plane's request counters: per worker and (service, route), for every request, added up across
workers by the master. Two readers: analytics (oidcgate.proxy.analytics: requests by route and status,
latency histograms in analytics' buckets) and the prometheus plugin (plugins.prometheus: Kong's names and
buckets on `/metrics`, for the routes it is configured on), so a request is counted once for both.

A request costs one dict increment (its status code, negated when the gateway answered itself: Kong's
`source` label) and two array appends (its latencies), plus a third (Kong's kong latency) on a route
whose prometheus instance wants latencies (Exchange._record). Label children are looked up once per
snapshot compile. `fold()`, run every FOLD_AT requests, by the worker tick and before every dump, sorts
the latencies and counts each bucket with one bisect per bucket, so a histogram costs O(buckets) Python
operations per FOLD_AT requests instead of per request (and folding 1,024 latencies takes a fraction of
a millisecond: no pause a client would notice). Bucket boundaries are `le` (inclusive), as Prometheus
defines them. The master asks each worker for a dump on every scrape and adds them up (plus what workers
that exited had counted), without shared memory.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterable
from typing import Any

from oidcgate.analytics.histogram import BUCKETS  # analytics' buckets (Kong 2's prometheus buckets)
from oidcgate.plugins.prometheus.buckets import KONG_BUCKETS, UPSTREAM_BUCKETS

FOLD_AT = 1024  # latencies a route keeps before they are counted into buckets


def _count(ordered: list[float], bounds: tuple[float, ...], counts: list[int]) -> float:
    """Add sorted values to bucket `counts` (the last one is +Inf, not cumulative); returns their sum."""
    below = 0
    for index, bound in enumerate(bounds):
        upto = bisect_right(ordered, bound)
        counts[index] += upto - below
        below = upto
    counts[-1] += len(ordered) - below
    return sum(ordered)


class Histogram:
    """Counts in `bounds`' buckets and the sum of what was counted (milliseconds)."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def add(self, ordered: list[float]) -> None:
        self.total += _count(ordered, self.bounds, self.counts)


class KongLatency:
    """A route's latencies in Kong 3's buckets, for the prometheus plugin (request, upstream, kong)."""

    __slots__ = ("kong", "request", "upstream")

    def __init__(self) -> None:
        self.request = Histogram(UPSTREAM_BUCKETS)
        self.upstream = Histogram(UPSTREAM_BUCKETS)
        self.kong = Histogram(KONG_BUCKETS)


class RouteStats:
    """Counters for one (service, route) label pair.

    `codes` maps a status code to its count, negated when the gateway answered itself (no upstream
    response: a plugin's 401, a 502). `exported` is what the route's prometheus instances export (their
    switches, set at every snapshot compile; None: nothing), `kong` the Kong-bucket histograms, filled
    while latencies are exported (then `pending_kong` is an array, else None)."""

    __slots__ = ("codes", "exported", "kong", "pending_kong", "pending_total", "pending_upstream", "route", "service",
                 "total_counts", "total_sum", "upstream_counts", "upstream_sum")

    def __init__(self, service: str, route: str) -> None:
        self.service = service
        self.route = route
        self.codes: dict[int, int] = {}
        self.pending_total = array("d")
        self.pending_upstream = array("d")
        self.pending_kong: array[float] | None = None
        self.total_counts = [0] * (len(BUCKETS) + 1)
        self.total_sum = 0.0
        self.upstream_counts = [0] * (len(BUCKETS) + 1)
        self.upstream_sum = 0.0
        self.kong: KongLatency | None = None
        self.exported: Any = None

    def export(self, exported: Any, latency: bool = False) -> None:
        """What prometheus exports of this pair (None: nothing); with `latency`, Kong's histograms too."""
        self.fold()
        self.exported = exported
        if latency and self.kong is None:
            self.kong = KongLatency()
        self.pending_kong = array("d") if latency else None

    def fold(self) -> None:
        kong = self.kong if self.pending_kong is not None else None
        if self.pending_total:
            ordered = sorted(self.pending_total)
            self.total_sum += _count(ordered, BUCKETS, self.total_counts)
            if kong is not None:
                kong.request.add(ordered)
            self.pending_total = array("d")
        if self.pending_upstream:
            ordered = sorted(self.pending_upstream)
            self.upstream_sum += _count(ordered, BUCKETS, self.upstream_counts)
            if kong is not None:
                kong.upstream.add(ordered)
            self.pending_upstream = array("d")
        if kong is not None and self.pending_kong:
            kong.kong.add(sorted(self.pending_kong))
            self.pending_kong = array("d")


class WorkerStats:
    """Every RouteStats of one worker; children survive snapshot swaps so counters never go back."""

    def __init__(self) -> None:
        self.children: dict[tuple[str, str], RouteStats] = {}
        self.unmatched = self.child("", "")

    def child(self, service: str, route: str) -> RouteStats:
        key = (service, route)
        stats = self.children.get(key)
        if stats is None:
            stats = self.children[key] = RouteStats(service, route)
        return stats

    def fold(self) -> None:
        for stats in self.children.values():
            stats.fold()

    def dump(self) -> list[list[Any]]:
        """Analytics' view: [service, route, {status: count}, total counts, sum, upstream counts, sum]."""
        self.fold()
        found = []
        for s in self.children.values():
            if not s.codes:
                continue
            codes: dict[str, int] = {}
            for code, n in s.codes.items():
                key = str(abs(code))
                codes[key] = codes.get(key, 0) + n
            found.append([s.service, s.route, codes, s.total_counts, s.total_sum, s.upstream_counts, s.upstream_sum])
        return found

    def requests(self) -> int:
        return sum(sum(s.codes.values()) for s in self.children.values())


def merge(dumps: Iterable[list[list[Any]]]) -> dict[tuple[str, str], list[Any]]:
    """Add up worker dumps: (service, route) -> [codes, total counts, total sum, upstream counts, sum]."""
    merged: dict[tuple[str, str], list[Any]] = {}
    for dump in dumps:
        for service, route, codes, total, total_sum, upstream, upstream_sum in dump:
            into = merged.get((service, route))
            if into is None:
                merged[(service, route)] = [dict(codes), list(total), total_sum, list(upstream), upstream_sum]
                continue
            for code, n in codes.items():
                into[0][code] = into[0].get(code, 0) + n
            into[1] = [a + b for a, b in zip(into[1], total, strict=True)]
            into[2] += total_sum
            into[3] = [a + b for a, b in zip(into[3], upstream, strict=True)]
            into[4] += upstream_sum
    return merged
