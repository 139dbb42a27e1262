"""Traffic analytics on the control plane: minute rollups of what data planes report, and what the Admin
API answers from them (a window's summary, a time series), with a retention.

A report adds to its minute's rows with one INSERT ... ON CONFLICT DO UPDATE (SQLite and PostgreSQL
both have it), so data planes reporting the same minute, through any control-plane node, add up without
reading first. Latency is kept as counts per fixed bucket, so percentiles come from the merged counts of
every worker of every data plane (`oidcgate.analytics.histogram`).

Retention is Kong Vitals' `vitals_ttl_minutes` (default 1500, 25 hours: the one-day window stays
full); older rows are deleted at most once a minute, when a report arrives.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from sqlalchemy import ColumnElement, Engine, Row, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from oidcgate.analytics.histogram import percentiles
from oidcgate.cluster.protocol import Analytics, UsageRow
from oidcgate.controlplane.settings import DEFAULT_TTL_MINUTES
from oidcgate.controlplane.tables import (
    ANALYTICS_KEY,
    COUNTED_STATUSES,
    COUNTER_COLUMNS,
    LATENCY_COLUMNS,
    STATUS_CLASSES,
    analytics_minutes,
)

log = logging.getLogger("oidcgate.controlplane.analytics")


@dataclass(frozen=True)
class Window:
    seconds: int
    step: int  # seconds per time-series point


WINDOWS = {"15m": Window(900, 60), "1h": Window(3600, 60), "1d": Window(86400, 900)}
DEFAULT_WINDOW = "15m"
PURGE_EVERY = 60.0  # seconds between two retention deletes of one node
FUTURE_SLACK = 300  # a report filed further ahead (a data plane with a wrong clock) is refused
_NAMES = ("service_name", "route_name", "consumer_name")
_TABLE = analytics_minutes


@dataclass(frozen=True)
class Scope:
    """Which traffic a query is about: all of it, or one service, route or consumer (ids), or a mix."""

    service: str | None = None
    route: str | None = None
    consumer: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        return [_TABLE.c[f"{kind}_id"] == value for kind, value in
                (("service", self.service), ("route", self.route), ("consumer", self.consumer)) if value is not None]


def counters(row: UsageRow) -> dict[str, int]:
    """A report row as the table's counter columns."""
    values = {"requests": sum(row.codes.values())}
    for index, name in enumerate(STATUS_CLASSES, start=1):
        values[f"status_{name}"] = sum(n for code, n in row.codes.items() if code // 100 == index)
    for status in COUNTED_STATUSES:
        values[f"status_{status}"] = row.codes.get(status, 0)
    values.update(zip(LATENCY_COLUMNS, row.latency, strict=True))
    return values


class AnalyticsStore:
    """The rollups in the control plane's database (the store's engine)."""

    def __init__(self, engine: Engine, ttl_minutes: int = DEFAULT_TTL_MINUTES,
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.ttl = ttl_minutes * 60
        self.clock = clock
        self._purged = 0.0
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        statement = insert(_TABLE)
        excluded = statement.excluded
        self._upsert = statement.on_conflict_do_update(
            index_elements=list(ANALYTICS_KEY),
            set_={**{name: _TABLE.c[name] + excluded[name] for name in COUNTER_COLUMNS},
                  **{name: excluded[name] for name in _NAMES}})

    # ---- writes ----------------------------------------------------------------------------------

    def record(self, report: Analytics) -> int:
        """Add a data plane's report to its minute; returns the rows written (0 when refused as too old
        for the retention or too far ahead of this node's clock)."""
        now = self.clock()
        if report.minute < now - self.ttl or report.minute > now + FUTURE_SLACK:
            log.warning("analytics for minute %d refused: outside [now - retention, now + %d s]", report.minute,
                        FUTURE_SLACK)
            return 0
        rows: dict[tuple[Any, ...], dict[str, Any]] = {}
        for usage in report.rows:  # (a data plane sends each key once; adding up makes sure)
            key = (report.minute, usage.service or "", usage.route or "", usage.consumer or "")
            values = counters(usage)
            found = rows.get(key)
            if found is None:
                rows[key] = {**dict(zip(ANALYTICS_KEY, key, strict=True)), "service_name": usage.service_name,
                             "route_name": usage.route_name, "consumer_name": usage.consumer_name, **values}
            else:
                for name, value in values.items():
                    found[name] += value
        with self.engine.begin() as conn:
            if rows:
                conn.execute(self._upsert, list(rows.values()))
            if now - self._purged >= PURGE_EVERY:
                self._purged = now
                conn.execute(delete(_TABLE).where(_TABLE.c.minute < now - self.ttl))
        return len(rows)

    async def record_async(self, report: Analytics) -> None:
        """The cluster server's `on_analytics` sink."""
        await anyio.to_thread.run_sync(self.record, report)

    # ---- reads -----------------------------------------------------------------------------------

    def span(self, window: Window) -> tuple[int, int]:
        """[start, end) in epoch seconds: the minute in progress and the ones before it, `window` long."""
        end = int(self.clock()) // 60 * 60 + 60
        return end - window.seconds, end

    def summary(self, window_name: str, scope: Scope) -> dict[str, Any]:
        """Totals of a window, and the same per route, service and consumer (busiest first)."""
        start, end = self.span(WINDOWS[window_name])
        sums = [func.coalesce(func.sum(_TABLE.c[name]), 0) for name in COUNTER_COLUMNS]
        where = [_TABLE.c.minute >= start, _TABLE.c.minute < end, *scope.conditions()]
        with self.engine.connect() as conn:
            total = conn.execute(select(*sums).where(*where)).one()
            groups = {}
            for kind in ("route", "service", "consumer"):
                key, name = _TABLE.c[f"{kind}_id"], _TABLE.c[f"{kind}_name"]
                extra = [func.max(_TABLE.c.service_id), func.max(_TABLE.c.service_name)] if kind == "route" else []
                query = (select(key, func.max(name), *extra, *sums).where(*where).group_by(key)
                         .order_by(func.sum(_TABLE.c.requests).desc(), key))
                if kind == "consumer":
                    query = query.where(key != "")
                groups[kind] = [_grouped(kind, row) for row in conn.execute(query)]
        return {"window": window_name, "from": start, "to": end, **_figures(total),
                "routes": groups["route"], "services": groups["service"], "consumers": groups["consumer"]}

    def timeseries(self, window_name: str, scope: Scope) -> dict[str, Any]:
        """One point per step of the window (steps without traffic included), oldest first."""
        window = WINDOWS[window_name]
        start, end = self.span(window)
        sums = [func.sum(_TABLE.c[name]) for name in COUNTER_COLUMNS]
        query = (select(_TABLE.c.minute, *sums)
                 .where(_TABLE.c.minute >= start, _TABLE.c.minute < end, *scope.conditions())
                 .group_by(_TABLE.c.minute))
        steps: dict[int, list[int]] = {}
        with self.engine.connect() as conn:
            for minute, *values in conn.execute(query):
                into = steps.setdefault(minute - minute % window.step, [0] * len(COUNTER_COLUMNS))
                for index, value in enumerate(values):
                    into[index] += value
        empty = [0] * len(COUNTER_COLUMNS)
        first = start - start % window.step
        data = [{"start": at, **_figures(steps.get(at, empty))} for at in range(first, end, window.step)]
        return {"window": window_name, "from": start, "to": end, "step": window.step, "data": data}


def _figures(values: Sequence[int] | Row[Any]) -> dict[str, Any]:
    """Summed counter columns (COUNTER_COLUMNS order) as the Admin API shows them."""
    named = dict(zip(COUNTER_COLUMNS, (int(v) for v in values), strict=True))
    return {"total": named["requests"],
            "by_status_class": {name: named[f"status_{name}"] for name in STATUS_CLASSES},
            "by_status": {str(status): named[f"status_{status}"] for status in COUNTED_STATUSES},
            "latency_ms": percentiles([named[name] for name in LATENCY_COLUMNS])}


def _grouped(kind: str, row: Row[Any]) -> dict[str, Any]:
    values = list(row)
    shown: dict[str, Any] = {"id": values[0] or None, "name": values[1] or None}
    if kind == "route":
        service_id, service_name = values[2:4]
        shown["service"] = {"id": service_id, "name": service_name or None} if service_id else None
    return {**shown, **_figures(values[4 if kind == "route" else 2:])}
