"""Kong 3's prometheus buckets, in milliseconds (the data plane's counters fold latencies into them where
the plugin exports latencies: proxy.metrics.KongLatency)."""

from __future__ import annotations

KONG_BUCKETS: tuple[float, ...] = (1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000, 3000, 6000)
# kong_upstream_latency_ms and kong_request_latency_ms (the same buckets, as in Kong)
UPSTREAM_BUCKETS: tuple[float, ...] = (25, 50, 80, 100, 250, 400, 700, 1000, 2000, 5000, 10000, 30000, 60000)
