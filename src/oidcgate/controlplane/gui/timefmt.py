"""Times as people read them in tables: "12 s ago", and the exact UTC time for the tooltip."""

from __future__ import annotations

from datetime import UTC, datetime

_UNITS = ((86400, "d"), (3600, "h"), (60, "min"))


def relative_time(timestamp: float | int | None, now: float) -> str:
    if timestamp is None:
        return "never"
    seconds = int(now - float(timestamp))
    if seconds < 2:
        return "just now"
    for size, unit in _UNITS:
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def absolute_time(timestamp: float | int | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(float(timestamp), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
