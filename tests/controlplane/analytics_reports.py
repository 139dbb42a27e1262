"""Analytics reports as data planes send them, for the control plane's tests."""

from __future__ import annotations

from bisect import bisect_left

from oidcgate.analytics.histogram import BUCKETS, SIZE
from oidcgate.cluster.protocol import Analytics, UsageRow

NOW = 1_700_000_000.0  # the tests' clock starts here (a minute starts at 1_699_999_980)
MINUTE = int(NOW) // 60 * 60


def row(route: tuple[str, str] | None = None, service: tuple[str, str] | None = None,
        consumer: tuple[str, str] | None = None, **codes: list[float]) -> UsageRow:
    """`s200=[1.5, 3.0]`: two 200s that took 1.5 and 3 ms; route/service/consumer as (id, name)."""
    latency = [0] * SIZE
    counted: dict[int, int] = {}
    for code, latencies in codes.items():
        counted[int(code[1:])] = len(latencies)
        for value in latencies:
            latency[bisect_left(BUCKETS, value)] += 1
    service_id, service_name = service or (None, "")
    route_id, route_name = route or (None, "")
    consumer_id, consumer_name = consumer or (None, "")
    return UsageRow(service_id, service_name, route_id, route_name, consumer_id, consumer_name, counted,
                    tuple(latency))


def report(minute: int, *rows: UsageRow) -> Analytics:
    return Analytics(minute, rows)
