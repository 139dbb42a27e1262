"""Latency histograms with fixed buckets, so that counts from any worker of any data plane simply add up.

The bounds are Kong's prometheus plugin defaults (milliseconds, `le`: a bucket counts the latencies up to
and including its bound; one more bucket counts everything above the last bound). Percentiles are
estimated from merged counts the way Prometheus' `histogram_quantile` does: linearly inside the bucket
that holds the rank, and the last finite bound when the rank falls in the overflow bucket.
"""

from __future__ import annotations

from collections.abc import Sequence

BUCKETS: tuple[float, ...] = (1, 2, 5, 7, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100, 200, 300, 400, 500,
                              1000, 2000, 5000, 10000, 30000, 60000)
SIZE = len(BUCKETS) + 1  # counts per histogram: one per bound, then the overflow
PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))


def quantile(counts: Sequence[int], q: float) -> float | None:
    """The estimated `q`-quantile (0..1) in milliseconds; None for an empty histogram."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    below = 0
    for position, bound in enumerate(BUCKETS):
        count = counts[position]
        if count and below + count >= rank:
            lower = BUCKETS[position - 1] if position else 0.0
            return lower + (bound - lower) * (rank - below) / count
        below += count
    return float(BUCKETS[-1])  # the rank is in the overflow bucket: its lower bound is all that is known


def percentiles(counts: Sequence[int]) -> dict[str, float | None]:
    """p50, p95 and p99, rounded to 0.01 ms (the buckets are far coarser than that)."""
    found = {}
    for name, q in PERCENTILES:
        value = quantile(counts, q)
        found[name] = None if value is None else round(value, 2)
    return found
