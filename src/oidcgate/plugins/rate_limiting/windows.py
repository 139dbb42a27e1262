"""Fixed windows aligned to their period (UTC): the window a moment falls in, and when it ends.

Every worker and data plane computes the same window for the same moment, so counters kept under
the window's start (in Redis) are shared exactly; months and years are calendar ones, as in Kong.
"""

from __future__ import annotations

import calendar
import datetime

FIXED = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def window(period: str, now: int) -> tuple[int, int]:
    """(start, end) in epoch seconds of the `period` window holding `now`."""
    size = FIXED.get(period)
    if size is not None:
        start = now - now % size
        return start, start + size
    day = datetime.datetime.fromtimestamp(now, datetime.UTC)
    if period == "month":
        year, month = day.year, day.month
        following = (year + 1, 1) if month == 12 else (year, month + 1)
        return calendar.timegm((year, month, 1, 0, 0, 0)), calendar.timegm((*following, 1, 0, 0, 0))
    if period == "year":
        return calendar.timegm((day.year, 1, 1, 0, 0, 0)), calendar.timegm((day.year + 1, 1, 1, 0, 0, 0))
    raise ValueError(f"unknown period {period!r}")
