"""What the prometheus plugin exports of the data plane's request counters, and what it counts itself.

Every request is already counted once, for analytics and for this plugin alike (proxy.metrics: status
codes with their source, latencies, Kong's buckets where latencies are exported), so a route whose
instance exports status codes and latencies costs a request nothing more. When a snapshot is compiled,
each route's instance says what it exports (`Switches`, Kong's switches); only `per_consumer` and
`bandwidth_metrics` need a call per request (`Recorder`: the consumer's status codes, bytes in and out),
into counters of their own (`Extras`) that survive configuration changes like the route counters.

`dump()` gives, per exported route, Kong's series: status codes by source (and consumer: the codes of the
requests without one are the route's less its consumers'), latency histograms, bandwidth. Counters
count from the worker's start rather than from the moment the plugin was configured (Kong's); a rate,
what dashboards show, is the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oidcgate.plugins.observer import Timed
from oidcgate.plugins.pdk import PluginEnv
from oidcgate.plugins.prometheus.schema import PrometheusConfig

if TYPE_CHECKING:
    from oidcgate.proxy.metrics import RouteStats, WorkerStats

NAME = "prometheus"


@dataclass(frozen=True, slots=True)
class Switches:
    """What a route exports: the union of its instances' switches (a consumer-scoped instance included)."""

    status: bool = False
    latency: bool = False
    bandwidth: bool = False
    per_consumer: bool = False

    @classmethod
    def of(cls, config: PrometheusConfig) -> Switches:
        return cls(config.status_code_metrics, config.latency_metrics, config.bandwidth_metrics, config.per_consumer)

    def __or__(self, other: Switches) -> Switches:
        return Switches(self.status or other.status, self.latency or other.latency,
                        self.bandwidth or other.bandwidth, self.per_consumer or other.per_consumer)


class Extras:
    """The counters a Recorder keeps for one (service, route): by consumer username, bytes in and out."""

    __slots__ = ("by_consumer", "egress", "ingress")

    def __init__(self) -> None:
        self.by_consumer: dict[str, dict[int, int]] = {}  # username -> {code (negated: gateway's): count}
        self.ingress: dict[str, int] = {}  # bytes by username ("" without a consumer, or per_consumer off)
        self.egress: dict[str, int] = {}


def extras(env: PluginEnv, stats: RouteStats) -> Extras:
    """The Extras of a route's counters in this worker, kept in the plugin's env state."""
    found: dict[tuple[str, str], Extras] = env.state(NAME).setdefault("extras", {})
    key = (stats.service, stats.route)
    child = found.get(key)
    if child is None:
        child = found[key] = Extras()
    return child


class Recorder:
    """One instance's per-request counting on one route, for `per_consumer` and `bandwidth_metrics`."""

    __slots__ = ("bandwidth", "by_consumer", "egress", "ingress", "per_consumer", "status")

    def __init__(self, into: Extras, config: PrometheusConfig) -> None:
        self.status = config.status_code_metrics
        self.bandwidth = config.bandwidth_metrics
        self.per_consumer = config.per_consumer
        self.by_consumer, self.ingress, self.egress = into.by_consumer, into.ingress, into.egress

    def record(self, request: Timed, end: float) -> None:
        username = ""
        if self.per_consumer:
            consumer = request.consumer
            if consumer is not None:
                username = consumer.username or ""
        if username and self.status:
            code = request.status if request.t_head else -request.status
            codes = self.by_consumer.setdefault(username, {})
            codes[code] = codes.get(code, 0) + 1
        if self.bandwidth:
            ingress, egress = self.ingress, self.egress
            ingress[username] = ingress.get(username, 0) + request.head_size() + request.bytes_in
            if request.bytes_out:
                egress[username] = egress.get(username, 0) + request.bytes_out


def dump(core: WorkerStats, env: PluginEnv) -> list[dict[str, Any]]:
    """This worker's exported series, JSON-ready, per (service, route) (see the module doc)."""
    core.fold()
    found = []
    for stats in core.children.values():
        switches: Switches | None = stats.exported
        if switches is None:
            continue
        more = extras(env, stats)
        codes: list[list[Any]] = []
        if switches.status:
            rest = dict(stats.codes)
            for consumer, counts in more.by_consumer.items():
                for code, n in counts.items():
                    codes.append([abs(code), "kong" if code < 0 else "service", consumer, n])
                    rest[code] = rest.get(code, 0) - n
            codes += [[abs(code), "kong" if code < 0 else "service", "", n] for code, n in rest.items() if n > 0]
        kong = stats.kong
        latency = {name: [h.counts, h.total] for name, h in (
            ("request", kong.request), ("upstream", kong.upstream), ("kong", kong.kong))
            if any(h.counts)} if switches.latency and kong is not None else {}
        bandwidth = [["ingress", consumer, n] for consumer, n in more.ingress.items()] + [
            ["egress", consumer, n] for consumer, n in more.egress.items()] if switches.bandwidth else []
        if codes or latency or bandwidth:
            found.append({"service": stats.service, "route": stats.route, "codes": codes, "latency": latency,
                          "bandwidth": bandwidth})
    return found
