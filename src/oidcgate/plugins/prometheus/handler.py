"""prometheus handler: what `/metrics` shows of the routes it applies to, by Kong's switches.

It is an observer (plugins.observer) that runs no phase, so a route keeps the data plane's fast path. The
data plane counts every request once anyway (for analytics too: proxy.metrics); when a snapshot is
compiled, this instance marks what of its routes' counters is exported (stats.Switches), and only
`per_consumer` and `bandwidth_metrics` add a call per request (stats.Recorder). Requests that matched no
route are not exported, as in Kong; the data plane's own metrics (connections, requests, configuration
hash, ...) are on `/metrics` whether or not the plugin is configured (exporter.py).
"""

from __future__ import annotations

from typing import ClassVar

from oidcgate import __version__
from oidcgate.plugins.observer import Observer, Recorder, RouteInfo
from oidcgate.plugins.prometheus.schema import PrometheusConfig
from oidcgate.plugins.prometheus.stats import NAME, Switches, extras
from oidcgate.plugins.prometheus.stats import Recorder as RouteRecorder


class PrometheusHandler(Observer[PrometheusConfig]):
    NAME: ClassVar[str] = NAME
    PRIORITY: ClassVar[int] = 13
    VERSION: ClassVar[str] = __version__
    CONFIG = PrometheusConfig

    def recorder(self, route: RouteInfo) -> Recorder | None:
        config = self.config
        switches = Switches.of(config)
        if route.entity is None or route.stats is None or switches == Switches():
            return None
        stats = route.stats
        exported = switches if stats.exported is None else stats.exported | switches
        stats.export(exported, latency=exported.latency)
        if not (config.per_consumer or config.bandwidth_metrics):
            return None  # what the data plane counts anyway is all this instance exports
        return RouteRecorder(extras(self.env, stats), config).record
