"""Request metrics: cheap per-worker counters, merged and rendered as Prometheus text by the master.

A worker records into plain Python counters whose label children (service, route) are looked up once
per snapshot compile, so a request costs one dict increment and two array appends (Exchange._record).
Bucket boundaries are `le` (inclusive), as Prometheus defines them. The master asks
each worker for a dump on every scrape and adds them up (plus what workers that exited had counted),
so `/metrics` is aggregated across workers without shared memory.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterable
from typing import Any

from oidcgate.analytics.histogram import BUCKETS  # Kong's latency buckets, also those of analytics

FOLD_AT = 1024  # latencies a route keeps before they are counted into buckets


class RouteStats:
    """Counters for one (service, route) label pair.

    A request appends its two latencies to `pending` arrays (two C appends); `fold()`, run every
    FOLD_AT requests, by the worker tick and before every dump, sorts them and counts each bucket with one bisect per bucket,
    so the histogram costs O(buckets) Python operations per FOLD_AT requests instead of per request
    (and folding 1,024 latencies takes a fraction of a millisecond: no pause a client would notice).
    """

    __slots__ = ("codes", "pending_total", "pending_upstream", "route", "service", "total_counts", "total_sum",
                 "upstream_counts", "upstream_sum")

    def __init__(self, service: str, route: str) -> None:
        self.service = service
        self.route = route
        self.codes: dict[int, int] = {}
        self.pending_total = array("d")
        self.pending_upstream = array("d")
        self.total_counts = [0] * (len(BUCKETS) + 1)
        self.total_sum = 0.0
        self.upstream_counts = [0] * (len(BUCKETS) + 1)
        self.upstream_sum = 0.0

    def fold(self) -> None:
        if self.pending_total:
            self.total_sum += _fold(self.pending_total, self.total_counts)
            self.pending_total = array("d")
        if self.pending_upstream:
            self.upstream_sum += _fold(self.pending_upstream, self.upstream_counts)
            self.pending_upstream = array("d")


def _fold(values: array[float], counts: list[int]) -> float:
    ordered = sorted(values)
    below = 0
    for index, bound in enumerate(BUCKETS):
        upto = bisect_right(ordered, bound)
        counts[index] += upto - below
        below = upto
    counts[-1] += len(ordered) - below
    return sum(ordered)


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
        self.fold()
        return [[s.service, s.route, {str(k): v for k, v in s.codes.items()}, s.total_counts, s.total_sum,
                 s.upstream_counts, s.upstream_sum] for s in self.children.values() if s.codes]

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


def _labels(**labels: str) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels.items()) + "}"


def _histogram(lines: list[str], name: str, labels: dict[str, str], counts: list[int], total: float) -> None:
    cumulative = 0
    for bound, count in zip((*BUCKETS, float("inf")), counts, strict=True):
        cumulative += count
        le = "+Inf" if bound == float("inf") else f"{bound:g}"
        lines.append(f"{name}_bucket{_labels(**labels, le=le)} {cumulative}")
    lines.append(f"{name}_sum{_labels(**labels)} {total:.3f}")
    lines.append(f"{name}_count{_labels(**labels)} {cumulative}")


def render(merged: dict[tuple[str, str], list[Any]], *, config_hash: str, connections: dict[str, int],
           workers: int, uptime: float) -> str:
    """Prometheus text exposition format 0.0.4."""
    lines = [
        "# HELP oidcgate_http_requests_total HTTP requests by service, route and status code.",
        "# TYPE oidcgate_http_requests_total counter",
    ]
    for (service, route), (codes, *_rest) in sorted(merged.items()):
        for code, n in sorted(codes.items()):
            lines.append(f"oidcgate_http_requests_total{_labels(service=service, route=route, code=code)} {n}")
    for metric, index, what in (("oidcgate_request_latency_ms", 1, "Total time from first byte read to last byte sent"),
                                ("oidcgate_upstream_latency_ms", 3, "Time from request sent upstream to response headers")):
        lines.append(f"# HELP {metric} {what}, in milliseconds.")
        lines.append(f"# TYPE {metric} histogram")
        for (service, route), values in sorted(merged.items()):
            if any(values[index]):
                _histogram(lines, metric, {"service": service, "route": route}, values[index], values[index + 1])
    lines += ["# HELP oidcgate_connections Client connections by state.", "# TYPE oidcgate_connections gauge"]
    for state in ("active", "reading", "writing", "waiting"):
        lines.append(f"oidcgate_connections{_labels(state=state)} {connections.get(state, 0)}")
    lines += ["# HELP oidcgate_connections_total Client connections accepted and handled.",
              "# TYPE oidcgate_connections_total counter"]
    for state in ("accepted", "handled"):
        lines.append(f"oidcgate_connections_total{_labels(state=state)} {connections.get(state, 0)}")
    lines += ["# HELP oidcgate_config_info The configuration hash in use.", "# TYPE oidcgate_config_info gauge",
              f"oidcgate_config_info{_labels(hash=config_hash)} 1",
              "# HELP oidcgate_workers Worker processes running.", "# TYPE oidcgate_workers gauge",
              f"oidcgate_workers {workers}",
              "# HELP oidcgate_uptime_seconds Seconds since the data plane started.",
              "# TYPE oidcgate_uptime_seconds gauge", f"oidcgate_uptime_seconds {uptime:.1f}"]
    return "\n".join(lines) + "\n"
