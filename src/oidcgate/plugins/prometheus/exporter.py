"""`/metrics` on the status listener: every worker's counters added up, in Kong's names and labels.

The master asks each worker for its counters on every scrape (a dump of plain numbers: the route
counters as the prometheus plugin exports them (stats.dump), plugins.counters, connection counts),
adds them up together with
what workers that exited had reported, and renders them here in the Prometheus text format (0.0.4),
so Kong's Grafana dashboard reads them unchanged:

  - always: `kong_nginx_connections_total` and `kong_nginx_requests_total` (gauges, as in Kong),
    `kong_datastore_reachable`, `kong_node_info`, `kong_data_plane_config_hash` (the configuration
    hash as a number, as Kong's control plane shows it per data plane), `kong_control_plane_connected`
    (hybrid mode), `kong_memory_workers_lua_vms_bytes` (each worker's resident memory: Kong's name for
    a worker's memory), and oidcgate's own `oidcgate_workers`, `oidcgate_uptime_seconds` and the
    plugins' counters (plugins.counters);
  - from the prometheus plugin's instances: `kong_http_requests_total`, the `kong_request_latency_ms`,
    `kong_upstream_latency_ms` and `kong_kong_latency_ms` histograms, `kong_bandwidth_bytes`, and
    `kong_upstream_target_health` when an instance turns `upstream_health_metrics` on.

The text is written here rather than by prometheus_client, whose writer insists on a `_total` suffix for
every counter: Kong's `kong_bandwidth_bytes` is a counter without one, and dashboards query that name.
Labels are written in Kong's order.

Summing over workers is exact for counters and histograms (each worker counts its own requests; the
buckets add up). Passive target health is kept per worker (as Kong keeps it per nginx worker): a target
is reported unhealthy when any worker has taken it out of rotation.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from oidcgate.config import Snapshot
from oidcgate.plugins import counters
from oidcgate.plugins.prometheus.buckets import KONG_BUCKETS, UPSTREAM_BUCKETS

SUBSYSTEM = "http"
CONNECTION_STATES = ("accepted", "handled", "active", "reading", "writing", "waiting")
HEALTH_STATES = ("healthchecks_off", "healthy", "unhealthy", "dns_error")
_LATENCY_NAMES = {"request": ("kong_request_latency_ms", "Total latency incurred during requests"),
                  "upstream": ("kong_upstream_latency_ms", "Latency added by upstream response"),
                  "kong": ("kong_kong_latency_ms", "Latency added by Kong and enabled plugins")}


@dataclass
class Scrape:
    """What one scrape renders: the workers' reports (and those of workers that exited) and the node."""

    reports: list[dict[str, Any]]  # live workers (worker._stats)
    retired: list[dict[str, Any]]  # of the workers that exited, their last `prometheus` and `counters`
    node_id: str
    hostname: str
    version: str
    config_hash: str
    uptime: float
    upstream_health: bool  # a prometheus instance turned upstream_health_metrics on
    connections: dict[str, int] = field(default_factory=dict)  # summed, those of exited workers included
    requests: int = 0
    cp_connected: bool | None = None  # None: not in hybrid mode


@dataclass
class MergedRoute:
    codes: dict[tuple[int, str, str], float] = field(default_factory=dict)  # (code, source, consumer)
    latency: dict[str, tuple[list[float], float]] = field(default_factory=dict)  # name -> (counts, sum)
    bandwidth: dict[tuple[str, str], float] = field(default_factory=dict)  # (direction, consumer)


def merge_routes(dumps: Iterable[list[dict[str, Any]]]) -> dict[tuple[str, str], MergedRoute]:
    """Add up the route counters of several workers, by (service, route)."""
    merged: dict[tuple[str, str], MergedRoute] = {}
    for dump in dumps:
        for route in dump:
            into = merged.setdefault((route["service"], route["route"]), MergedRoute())
            for code, source, consumer, n in route["codes"]:
                into.codes[(code, source, consumer)] = into.codes.get((code, source, consumer), 0) + n
            for name, (counts, total) in route["latency"].items():
                known = into.latency.get(name)
                into.latency[name] = (counts, total) if known is None else (
                    [a + b for a, b in zip(known[0], counts, strict=True)], known[1] + total)
            for direction, consumer, n in route["bandwidth"]:
                into.bandwidth[(direction, consumer)] = into.bandwidth.get((direction, consumer), 0) + n
    return merged


def upstream_health_on(snapshot: Snapshot | None) -> bool:
    """Kong's rule: `kong_upstream_target_health` is exported when any instance turns it on."""
    return snapshot is not None and any(
        plugin.name == "prometheus" and plugin.enabled and plugin.config.get("upstream_health_metrics")
        for plugin in snapshot.plugins)


def _config_hash_number(config_hash: str) -> float:
    """Kong's numeric value of a configuration hash (hexadecimal, read as a number)."""
    try:
        return float(int(config_hash, 16))
    except ValueError:
        return 0.0


@dataclass
class Family:
    """One metric family: its samples are (name suffix, label values, value), labels in `labelnames` order."""

    name: str
    help: str
    type: str  # "counter", "gauge" or "histogram"
    labelnames: Sequence[str] = ()
    samples: list[tuple[str, Sequence[str], float]] = field(default_factory=list)

    def add(self, values: Sequence[str], value: float, suffix: str = "") -> None:
        self.samples.append((suffix, values, value))

    def lines(self) -> Iterator[str]:
        yield f"# HELP {self.name} {_escape(self.help, help_text=True)}"
        yield f"# TYPE {self.name} {self.type}"
        for suffix, values, value in self.samples:
            names = (*self.labelnames, "le") if len(values) > len(self.labelnames) else self.labelnames
            labels = ",".join(f'{name}="{_escape(v)}"' for name, v in zip(names, values, strict=True))
            yield f"{self.name}{suffix}{{{labels}}} {_number(value)}" if labels else \
                f"{self.name}{suffix} {_number(value)}"


def _escape(value: str, help_text: bool = False) -> str:
    value = value.replace("\\", "\\\\").replace("\n", "\\n")
    return value if help_text else value.replace('"', '\\"')


def _number(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    if float(value).is_integer() and abs(value) < 2 ** 53:
        return str(int(value))
    return repr(float(value))


def _gauge(name: str, help_: str, value: float) -> Family:
    family = Family(name, help_, "gauge")
    family.add((), value)
    return family


def _families(scrape: Scrape) -> Iterator[Family]:
    yield from _node(scrape)
    yield from _routes(merge_routes(report["prometheus"] for report in (*scrape.retired, *scrape.reports)))
    if scrape.upstream_health:
        yield _health(scrape.reports)
    for name, (help_, labelnames, values) in sorted(
            counters.merge(report["counters"] for report in (*scrape.retired, *scrape.reports)).items()):
        family = Family(name, help_, "counter", labelnames)
        for labels, value in sorted(values.items()):
            family.add(labels, value)
        yield family


def _node(scrape: Scrape) -> Iterator[Family]:
    node, sub = scrape.node_id, SUBSYSTEM
    connections = Family("kong_nginx_connections_total", "Number of connections by subsystem", "gauge",
                         ("node_id", "subsystem", "state"))
    for state in CONNECTION_STATES:
        connections.add((node, sub, state), scrape.connections.get(state, 0))
    connections.add((node, sub, "total"), scrape.requests)
    yield connections
    requests = Family("kong_nginx_requests_total", "Number of requests total", "gauge", ("node_id", "subsystem"))
    requests.add((node, sub), scrape.requests)
    yield requests
    # DB-less or hybrid: the configuration is in memory, always reachable
    yield _gauge("kong_datastore_reachable", "Datastore reachable from Kong, 0 is unreachable", 1)
    if scrape.cp_connected is not None:
        yield _gauge("kong_control_plane_connected", "Kong connected to control plane, 0 is unconnected",
                     int(scrape.cp_connected))
    info = Family("kong_node_info", "Kong Node metadata information", "gauge", ("node_id", "version"))
    info.add((node, scrape.version), 1)
    yield info
    config = Family("kong_data_plane_config_hash", "Config hash numeric value of the data plane", "gauge",
                    ("node_id", "hostname", "ip"))
    config.add((node, scrape.hostname, ""), _config_hash_number(scrape.config_hash))
    yield config
    memory = Family("kong_memory_workers_lua_vms_bytes", "Resident memory of each worker process", "gauge",
                    ("node_id", "pid", "kong_subsystem"))
    for report in sorted(scrape.reports, key=lambda r: r["index"]):
        memory.add((node, str(report["pid"]), sub), report["rss"])
    yield memory
    yield _gauge("oidcgate_workers", "Worker processes running.", len(scrape.reports))
    yield _gauge("oidcgate_uptime_seconds", "Seconds since the data plane started.", round(scrape.uptime, 1))


def _routes(routes: dict[tuple[str, str], MergedRoute]) -> Iterator[Family]:
    ordered = sorted(routes.items())
    status = Family("kong_http_requests_total", "HTTP status codes per consumer/service/route in Kong", "counter",
                    ("service", "route", "code", "source", "consumer"))
    for (service, route), merged in ordered:
        for (code, source, consumer), n in sorted(merged.codes.items()):
            status.add((service, route, str(code), source, consumer), n)
    yield status
    for name, bounds in (("request", UPSTREAM_BUCKETS), ("upstream", UPSTREAM_BUCKETS), ("kong", KONG_BUCKETS)):
        metric, what = _LATENCY_NAMES[name]
        family = Family(metric, f"{what} for each service/route in Kong", "histogram", ("service", "route"))
        les = [f"{bound:g}" for bound in bounds] + ["+Inf"]
        for (service, route), merged in ordered:
            if name in merged.latency:
                counts, total = merged.latency[name]
                cumulative = 0.0
                for le, count in zip(les, counts, strict=True):
                    cumulative += count
                    family.add((service, route, le), cumulative, "_bucket")
                family.add((service, route), cumulative, "_count")
                family.add((service, route), total, "_sum")
        yield family
    bandwidth = Family("kong_bandwidth_bytes", "Total bandwidth (ingress/egress) throughput in bytes", "counter",
                       ("service", "route", "direction", "consumer"))
    for (service, route), merged in ordered:
        for (direction, consumer), n in sorted(merged.bandwidth.items()):
            bandwidth.add((service, route, direction, consumer), n)
    yield bandwidth


def _health(reports: list[dict[str, Any]]) -> Family:
    states: dict[tuple[str, str], str] = {}  # (upstream, target) -> state, the worst any worker has
    for report in reports:
        for upstream, targets in report["upstreams"].items():
            for target in targets:
                key = (upstream, target["target"])
                if states.get(key) != "unhealthy":
                    states[key] = target["health"].lower()
    family = Family("kong_upstream_target_health", "Health status of targets of upstream. States = "
                    "healthchecks_off|healthy|unhealthy|dns_error, value is 1 when state is populated.", "gauge",
                    ("upstream", "target", "address", "state", "subsystem"))
    for (upstream, target), current in sorted(states.items()):
        for state in HEALTH_STATES:
            family.add((upstream, target, target, state, SUBSYSTEM), int(state == current))
    return family


def render(scrape: Scrape) -> bytes:
    """The Prometheus text exposition (format 0.0.4) of one scrape."""
    return ("\n".join(line for family in _families(scrape) for line in family.lines()) + "\n").encode()
