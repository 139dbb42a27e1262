"""Requests by consumer, counted per worker for analytics: the only per-request work analytics adds.

Requests by service, route and status code, and their latency histograms, are already counted by the
metrics (`oidcgate.proxy.metrics.RouteStats`), and analytics reads those as they are. What the metrics
do not keep is the consumer: a request that a plugin authenticated as a consumer is counted here too, by
(route, consumer), with its code and latency bucket, so the master can split each route's counts into
per-consumer rows. A request without a consumer costs nothing here (the exchange checks for one first).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import TYPE_CHECKING, Any

from oidcgate.analytics.histogram import BUCKETS, SIZE

if TYPE_CHECKING:
    from oidcgate.config.entities import Consumer
    from oidcgate.proxy.metrics import RouteStats


class ConsumerStats:
    """One consumer's requests on one route (the route's RouteStats: it survives config swaps)."""

    __slots__ = ("codes", "consumer_id", "consumer_name", "latency", "route")

    def __init__(self, route: RouteStats, consumer: Consumer) -> None:
        self.route = route
        self.consumer_id = consumer.id or ""
        self.consumer_name = consumer.username or consumer.custom_id or self.consumer_id
        self.codes: dict[int, int] = {}
        self.latency = [0] * SIZE


class ConsumerUsage:
    """Every ConsumerStats of one worker; counters only grow, like the metrics' (the master diffs them)."""

    def __init__(self) -> None:
        self.children: dict[tuple[RouteStats, str | None], ConsumerStats] = {}

    def record(self, route: RouteStats, consumer: Consumer, status: int, latency_ms: float) -> None:
        """A finished request of `consumer` on `route` (the hot path: a lookup and two increments)."""
        key = (route, consumer.id)
        child = self.children.get(key)
        if child is None:
            child = self.children[key] = ConsumerStats(route, consumer)
        codes = child.codes
        codes[status] = codes.get(status, 0) + 1
        child.latency[bisect_left(BUCKETS, latency_ms)] += 1  # `le` buckets: a bound counts itself

    def dump(self) -> list[list[Any]]:
        """[service, route, consumer id, consumer name, {code: count}, latency counts] per child."""
        return [[c.route.service, c.route.route, c.consumer_id, c.consumer_name,
                 {str(code): n for code, n in c.codes.items()}, c.latency] for c in self.children.values()]
