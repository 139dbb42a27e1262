"""prometheus handler: counts the requests of the routes it applies to, by Kong's switches.

It is an observer (plugins.observer): no PDK phase, so a route keeps the data plane's fast path and a
request costs what `stats.Recorder.record` costs. Requests that matched no route are not counted, as in
Kong; the data plane's own metrics (connections, requests, configuration hash, ...) are on `/metrics`
whether or not the plugin is configured (exporter.py).
"""

from __future__ import annotations

from typing import ClassVar

from oidcgate import __version__
from oidcgate.plugins.observer import Observer, Recorder, RouteInfo
from oidcgate.plugins.pdk import PluginEnv
from oidcgate.plugins.prometheus.schema import PrometheusConfig
from oidcgate.plugins.prometheus.stats import Recorder as RouteRecorder
from oidcgate.plugins.prometheus.stats import WorkerStats


def worker_stats(env: PluginEnv) -> WorkerStats:
    """This worker's counters, kept in the plugin's env state: they survive configuration changes."""
    state = env.state(PrometheusHandler.NAME)
    stats = state.get("stats")
    if stats is None:
        stats = state["stats"] = WorkerStats()
    return stats


class PrometheusHandler(Observer[PrometheusConfig]):
    NAME: ClassVar[str] = "prometheus"
    PRIORITY: ClassVar[int] = 13
    VERSION: ClassVar[str] = __version__
    CONFIG = PrometheusConfig

    def recorder(self, route: RouteInfo) -> Recorder | None:
        config = self.config
        if route.entity is None or not (config.status_code_metrics or config.latency_metrics
                                        or config.bandwidth_metrics):
            return None
        return RouteRecorder(worker_stats(self.env).child(route.service_name, route.name), config).record
