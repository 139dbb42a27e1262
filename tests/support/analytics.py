"""Analytics data for the tests: latency counts, and reports as data planes send them."""

from __future__ import annotations

from bisect import bisect_left

from oidcgate.analytics.histogram import BUCKETS, SIZE
from oidcgate.cluster.protocol import Analytics, UsageRow

NOW = 1_700_000_000.0  # the tests' clock starts here (a minute starts at 1_699_999_980)
MINUTE = int(NOW) // 60 * 60


def latency_counts(*latencies: float) -> tuple[int, ...]:
    """A histogram of these latencies (ms) in the analytics buckets, as the data plane counts them."""
    counts = [0] * SIZE
    for latency in latencies:
        counts[bisect_left(BUCKETS, latency)] += 1
    return tuple(counts)


def row(route: tuple[str, str] | None = None, service: tuple[str, str] | None = None,
        consumer: tuple[str, str] | None = None, **codes: list[float]) -> UsageRow:
    """`s200=[1.5, 3.0]`: two 200s that took 1.5 and 3 ms; route/service/consumer as (id, name)."""
    counted = {int(code[1:]): len(latencies) for code, latencies in codes.items()}
    latency = latency_counts(*(value for latencies in codes.values() for value in latencies))
    service_id, service_name = service or (None, "")
    route_id, route_name = route or (None, "")
    consumer_id, consumer_name = consumer or (None, "")
    return UsageRow(service_id, service_name, route_id, route_name, consumer_id, consumer_name, counted, latency)


def report(minute: int, *rows: UsageRow) -> Analytics:
    return Analytics(minute, rows)
