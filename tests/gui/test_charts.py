"""Chart geometry: round axes, bars stacked in proportion, percentile lines broken where nothing was counted."""

from __future__ import annotations

from typing import Any

import pytest

from oidcgate.controlplane.gui import charts
from oidcgate.controlplane.gui.charts import BOTTOM, LEFT, RIGHT, TOP


def point(start: int, classes: dict[str, int] | None = None, latency: dict[str, float | None] | None = None,
          ) -> dict[str, Any]:
    by_class = {"1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0, **(classes or {})}
    return {"start": start, "total": sum(by_class.values()), "by_status_class": by_class,
            "latency_ms": {"p50": None, "p95": None, "p99": None, **(latency or {})}}


@pytest.mark.parametrize(("highest", "whole", "scale"), [
    (0, True, (1.0, 1)), (3, True, (1.0, 3)), (17, True, (5.0, 4)), (80, True, (20.0, 4)), (1234, True, (500.0, 3)),
    (0.9, False, (0.25, 4)), (7.3, False, (2.0, 4)), (258.2, False, (100.0, 3)),
])
def test_axes_have_about_four_round_steps(highest: float, whole: bool, scale: tuple[float, int]) -> None:
    assert charts.nice_scale(highest, whole) == scale
    step, count = scale
    assert step * count >= highest


def test_bars_stack_the_classes_in_proportion_with_a_tooltip_each() -> None:
    series = {"step": 60, "data": [point(1_700_000_040, {"2xx": 30, "4xx": 6, "5xx": 4}), point(1_700_000_100)]}
    chart = charts.status_bars(series)
    assert [t.label for t in chart.y_ticks] == ["0", "10", "20", "30", "40"]
    first, empty = chart.bars
    assert [s.name for s in first.segments] == ["2xx", "4xx", "5xx"]  # successes at the bottom
    heights = [s.height for s in first.segments]
    assert sum(heights) == pytest.approx(BOTTOM - TOP) and heights[0] == pytest.approx(5 * heights[1])
    assert first.segments[0].y + heights[0] == pytest.approx(BOTTOM)  # standing on the axis
    assert first.title == "22:14 UTC: 40 requests per minute (2xx 30, 4xx 6, 5xx 4)"
    assert empty.segments == () and LEFT < first.x < empty.x < RIGHT
    assert not chart.empty and charts.status_bars({"step": 60, "data": [point(60)]}).empty


def test_a_days_steps_are_averaged_per_minute() -> None:
    chart = charts.status_bars({"step": 900, "data": [point(900, {"2xx": 45})]})
    assert chart.unit == "requests per minute (15-minute average)"
    assert chart.bars[0].segments[0].value == 3  # 45 requests in 15 minutes


def test_percentile_lines_break_where_no_request_was_counted() -> None:
    data = [point(60 * i, {"2xx": 1}, {"p50": 1.0 + i, "p95": 5.0, "p99": 9.0}) for i in range(2)]
    data += [point(120), point(180, {"2xx": 1}, {"p50": 4.0, "p95": 5.0, "p99": 9.5})]
    chart = charts.percentile_lines({"step": 60, "data": data})
    p50 = chart.lines[0]
    assert [line.name for line in chart.lines] == ["p50", "p95", "p99"]
    assert p50.path.count("M") == 2 and p50.path.count("L") == 1  # two runs: the gap is not bridged
    assert len(p50.markers) == 3 and p50.markers[-1].title == "00:03 UTC: p50 4 ms"
    assert [t.label for t in chart.y_ticks][-1] == "10" and chart.unit == "milliseconds"
