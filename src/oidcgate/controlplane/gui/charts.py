"""Server-rendered SVG charts of an analytics time series: the geometry is computed here, the markup is in
templates/analytics/_charts.html.

No script and no inline style (the GUI's CSP allows neither): colours come from gui.css classes, and
no chart depends on them: each status class also has its own fill pattern, each percentile its own dash
and marker shape, every series is named in a legend, every bar and point has a tooltip, and the numbers
are in a table beside the chart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

WIDTH, HEIGHT = 960, 250  # about the card's width in pixels, so the 11-unit labels read as 11-13 px
LEFT, TOP, RIGHT, BOTTOM = 56, 12, 948, 220  # the plot area inside the viewBox
MAX_TIME_LABELS = 6
STACK_ORDER = ("2xx", "3xx", "4xx", "5xx", "1xx")  # bottom to top: successes first, errors on them
CLASS_LABELS = {"2xx": "2xx success", "3xx": "3xx redirect", "4xx": "4xx client error", "5xx": "5xx server error",
                "1xx": "1xx informational"}
PERCENTILES = ("p50", "p95", "p99")


@dataclass(frozen=True)
class Tick:
    at: float  # x or y in the viewBox
    label: str


@dataclass(frozen=True)
class Segment:
    name: str  # the status class
    y: float
    height: float
    value: float


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    title: str
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    title: str


@dataclass(frozen=True)
class Line:
    name: str  # the percentile
    path: str  # SVG path data; a step without traffic breaks the line
    markers: tuple[Marker, ...]


@dataclass(frozen=True)
class Chart:
    """A chart's axes and its bars or lines, in a WIDTH x HEIGHT viewBox."""

    width: ClassVar[int] = WIDTH
    height: ClassVar[int] = HEIGHT
    left: ClassVar[int] = LEFT
    top: ClassVar[int] = TOP
    right: ClassVar[int] = RIGHT
    bottom: ClassVar[int] = BOTTOM
    classes: ClassVar[dict[str, str]] = CLASS_LABELS
    percentiles: ClassVar[tuple[str, ...]] = PERCENTILES

    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    unit: str
    bars: tuple[Bar, ...] = ()
    lines: tuple[Line, ...] = ()

    @property
    def empty(self) -> bool:
        return not any(bar.segments for bar in self.bars) and not any(line.markers for line in self.lines)


def clock_time(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M")


def number(value: float) -> str:
    """A count or a rate as people read it: 12, 12.5, 0.25."""
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}".rstrip("0")


def nice_scale(highest: float, whole: bool) -> tuple[float, int]:
    """(tick step, ticks) so that about four round steps cover `highest`; whole numbers for counts."""
    raw = max(highest, 1.0 if whole else 0.001) / 4
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if whole:
        step = max(1.0, math.ceil(step))
    return step, max(1, math.ceil(highest / step))


def _y_axis(highest: float, whole: bool) -> tuple[float, tuple[Tick, ...]]:
    step, count = nice_scale(highest, whole)
    top = step * count
    return top, tuple(Tick(_y(step * i, top), number(step * i)) for i in range(count + 1))


def _y(value: float, top: float) -> float:
    return round(BOTTOM - (BOTTOM - TOP) * value / top, 2)


def _slots(points: Sequence[Mapping[str, Any]]) -> tuple[float, tuple[Tick, ...]]:
    """The width of one step, and time labels on at most MAX_TIME_LABELS of them."""
    slot = (RIGHT - LEFT) / max(1, len(points))
    every = max(1, math.ceil(len(points) / MAX_TIME_LABELS))
    ticks = tuple(Tick(round(LEFT + slot * (i + 0.5), 2), clock_time(p["start"]))
                  for i, p in enumerate(points) if i % every == 0)
    return slot, ticks


def per_minute_unit(step: int) -> str:
    return "requests per minute" if step == 60 else f"requests per minute ({step // 60}-minute average)"


def status_bars(series: Mapping[str, Any]) -> Chart:
    """Stacked bars: each step's requests per minute by status class."""
    points, step = series["data"], series["step"]
    scale = 60 / step
    top, y_ticks = _y_axis(max((p["total"] * scale for p in points), default=0), whole=step == 60)
    slot, x_ticks = _slots(points)
    width = round(max(1.0, slot * 0.72), 2)
    bars = []
    for index, point in enumerate(points):
        base, segments = BOTTOM, []
        for name in STACK_ORDER:
            value = point["by_status_class"][name] * scale
            if value:
                height = round((BOTTOM - TOP) * value / top, 2)
                base -= height
                segments.append(Segment(name, round(base, 2), height, value))
        counts = ", ".join(f"{s.name} {number(s.value)}" for s in segments) or "no requests"
        title = f"{clock_time(point['start'])} UTC: {number(point['total'] * scale)} {per_minute_unit(step)} ({counts})"
        bars.append(Bar(round(LEFT + slot * index + (slot - width) / 2, 2), width, title, tuple(segments)))
    return Chart(y_ticks, x_ticks, per_minute_unit(step), bars=tuple(bars))


def percentile_lines(series: Mapping[str, Any]) -> Chart:
    """One line per percentile (ms); steps without requests leave gaps."""
    points = series["data"]
    values = [p["latency_ms"][name] for p in points for name in PERCENTILES if p["latency_ms"][name] is not None]
    top, y_ticks = _y_axis(max(values, default=0.0), whole=False)
    slot, x_ticks = _slots(points)
    lines = []
    for name in PERCENTILES:
        path, markers, drawing = [], [], False
        for index, point in enumerate(points):
            value = point["latency_ms"][name]
            if value is None:
                drawing = False
                continue
            x, y = round(LEFT + slot * (index + 0.5), 2), _y(value, top)
            path.append(f"{'L' if drawing else 'M'}{x} {y}")
            markers.append(Marker(x, y, f"{clock_time(point['start'])} UTC: {name} {number(value)} ms"))
            drawing = True
        lines.append(Line(name, " ".join(path), tuple(markers)))
    return Chart(y_ticks, x_ticks, "milliseconds", lines=tuple(lines))
