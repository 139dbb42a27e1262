"""Latency histograms: Kong's buckets, `le` semantics shared with the metrics, percentiles like Prometheus'."""

from __future__ import annotations

import pytest

from oidcgate.analytics.histogram import BUCKETS, SIZE, percentiles, quantile
from oidcgate.proxy.metrics import RouteStats
from tests.support.analytics import latency_counts as counts


def test_the_buckets_are_kongs_and_the_metrics_count_into_the_same_ones() -> None:
    assert BUCKETS == (1, 2, 5, 7, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100, 200, 300, 400, 500, 1000, 2000,
                       5000, 10000, 30000, 60000)
    stats = RouteStats("s", "r")
    latencies = (0.2, 1.0, 1.01, 7.0, 99.9, 60000.0, 60000.5)
    for latency in latencies:
        stats.pending_total.append(latency)
    stats.fold()
    assert tuple(stats.total_counts) == counts(*latencies)  # a bound counts itself (`le`), in both
    assert counts(1.0)[0] == 1 and counts(1.01)[1] == 1 and counts(60000.5)[-1] == 1


def test_percentiles_interpolate_inside_the_bucket_that_holds_the_rank() -> None:
    histogram = counts(*([1.5] * 50), *([3.0] * 45), *([8.0] * 5))  # 50 in (1,2], 45 in (2,5], 5 in (7,10]
    assert quantile(histogram, 0.5) == 2.0  # the 50th of 100 is the last of (1, 2]
    assert quantile(histogram, 0.25) == 1.5  # halfway through (1, 2]
    assert quantile(histogram, 0.95) == 5.0
    assert quantile(histogram, 0.99) == pytest.approx(7 + 3 * 4 / 5)
    assert percentiles(histogram) == {"p50": 2.0, "p95": 5.0, "p99": 9.4}


def test_the_overflow_bucket_answers_its_lower_bound_and_nothing_answers_none() -> None:
    assert quantile(counts(90000.0, 120000.0), 0.5) == 60000.0
    assert quantile(counts(0.5), 0.99) == pytest.approx(0.99)  # (0, 1]
    assert percentiles([0] * SIZE) == {"p50": None, "p95": None, "p99": None}


def test_merged_counts_give_the_percentiles_of_all_the_requests() -> None:
    fast, slow = counts(*([1.5] * 90)), counts(*([450.0] * 10))
    merged = [a + b for a, b in zip(fast, slow, strict=True)]
    assert percentiles(fast)["p99"] < 2 and percentiles(merged)["p95"] == pytest.approx(450.0)
