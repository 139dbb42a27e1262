"""The control plane's analytics rollups on SQLite and PostgreSQL: reports add up per minute, windows and
steps, percentiles from merged buckets, scopes, and the retention."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from oidcgate.controlplane.analytics import AnalyticsStore, Scope
from oidcgate.controlplane.store import Store
from oidcgate.controlplane.tables import analytics_minutes
from tests.support.analytics import MINUTE, NOW, report, row
from tests.support.clock import Clock

ORDERS = ("5f8c2a1e-3b4d-4e6f-8a9b-0c1d2e3f4a51", "orders")
USERS = ("9a7b6c5d-4e3f-4a1b-8c9d-0e1f2a3b4c52", "users")
SHOP = ("1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d53", "shop")
ALICE = ("2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e54", "alice")


@pytest.fixture
def clock() -> Clock:
    return Clock(lambda: NOW)


@pytest.fixture
def analytics(store: Store, clock: Clock) -> AnalyticsStore:
    return AnalyticsStore(store.engine, ttl_minutes=1500, clock=clock)


def rows_in(engine: Engine) -> dict[int, int]:
    """Rows per minute, straight from the table."""
    with engine.connect() as conn:
        query = select(analytics_minutes.c.minute, func.count()).group_by(analytics_minutes.c.minute)
        return {minute: count for minute, count in conn.execute(query)}


def test_two_data_planes_reporting_the_same_minute_add_up(analytics: AnalyticsStore) -> None:
    one = report(MINUTE, row(ORDERS, SHOP, ALICE, s200=[1.5] * 40), row(ORDERS, SHOP, s401=[0.5] * 5),
                 row(s404=[0.3] * 2))
    two = report(MINUTE, row(ORDERS, SHOP, ALICE, s200=[3.0] * 50, s429=[0.4]), row(USERS, SHOP, s503=[450.0] * 2))
    assert analytics.record(one) == 3 and analytics.record(two) == 2
    assert rows_in(analytics.engine) == {MINUTE: 4}  # (orders, alice) once, its counts added
    summary = analytics.summary("15m", Scope())
    assert (summary["total"], summary["by_status_class"], summary["by_status"]) == (
        100, {"1xx": 0, "2xx": 90, "3xx": 0, "4xx": 8, "5xx": 2}, {"401": 5, "403": 0, "429": 1})
    # Buckets merged: 8 in (0,1], 40 in (1,2], 50 in (2,5], 2 in (400,500]; ranks 50, 95, 99 of 100.
    assert summary["latency_ms"] == {"p50": 2.12, "p95": 4.82, "p99": 450.0}
    orders, no_route, users = summary["routes"]  # busiest first, then by id ("" for no route)
    assert (orders["id"], orders["name"], orders["service"], orders["total"]) == (
        ORDERS[0], "orders", {"id": SHOP[0], "name": "shop"}, 96)
    assert (users["name"], users["by_status_class"]["5xx"], users["latency_ms"]["p50"]) == ("users", 2, 450.0)
    assert (no_route["id"], no_route["name"], no_route["service"], no_route["total"]) == (None, None, None, 2)
    assert [(s["name"], s["total"]) for s in summary["services"]] == [("shop", 98), (None, 2)]
    assert [(c["id"], c["name"], c["total"], c["by_status"]["429"]) for c in summary["consumers"]] == [
        (ALICE[0], "alice", 91, 1)]


def test_scopes_narrow_to_a_route_a_service_or_a_consumer(analytics: AnalyticsStore) -> None:
    analytics.record(report(MINUTE, row(ORDERS, SHOP, ALICE, s200=[1.0] * 3), row(ORDERS, SHOP, s200=[1.0] * 4),
                            row(USERS, SHOP, s200=[1.0] * 5), row(s404=[1.0])))
    totals = {scope: analytics.summary("1h", scope)["total"] for scope in (
        Scope(route=ORDERS[0]), Scope(service=SHOP[0]), Scope(consumer=ALICE[0]),
        Scope(route=USERS[0], consumer=ALICE[0]))}
    assert list(totals.values()) == [7, 12, 3, 0]
    assert [r["name"] for r in analytics.summary("1h", Scope(service=SHOP[0]))["routes"]] == ["orders", "users"]


def test_windows_cover_the_minute_in_progress_and_the_ones_before(analytics: AnalyticsStore) -> None:
    for minutes_ago, count in ((0, 1), (14, 2), (15, 4), (59, 8), (60, 16), (1439, 32)):
        analytics.record(report(MINUTE - 60 * minutes_ago, row(ORDERS, s200=[1.0] * count)))
    assert [analytics.summary(w, Scope())["total"] for w in ("15m", "1h", "1d")] == [3, 15, 63]
    summary = analytics.summary("15m", Scope())
    assert (summary["from"], summary["to"]) == (MINUTE - 14 * 60, MINUTE + 60)


def test_a_time_series_has_every_step_of_its_window(analytics: AnalyticsStore, clock: Clock) -> None:
    analytics.record(report(MINUTE - 120, row(ORDERS, s200=[1.5] * 3, s500=[20.0])))
    analytics.record(report(MINUTE, row(ORDERS, s401=[0.5] * 2)))
    series = analytics.timeseries("15m", Scope(route=ORDERS[0]))
    assert (series["step"], len(series["data"])) == (60, 15)
    assert [p["start"] for p in series["data"]] == list(range(MINUTE - 14 * 60, MINUTE + 60, 60))
    by_start = {p["start"]: p for p in series["data"]}
    assert by_start[MINUTE - 120]["by_status_class"] == {"1xx": 0, "2xx": 3, "3xx": 0, "4xx": 0, "5xx": 1}
    assert by_start[MINUTE - 120]["latency_ms"]["p99"] == pytest.approx(15 + 5 * 0.96 / 1)
    assert by_start[MINUTE]["by_status"]["401"] == 2
    assert by_start[MINUTE - 60] == {"start": MINUTE - 60, "total": 0, "by_status_class": dict.fromkeys(
        ("1xx", "2xx", "3xx", "4xx", "5xx"), 0), "by_status": {"401": 0, "403": 0, "429": 0},
        "latency_ms": {"p50": None, "p95": None, "p99": None}}
    day = analytics.timeseries("1d", Scope())
    assert day["step"] == 900 and all(p["start"] % 900 == 0 for p in day["data"])
    assert sum(p["total"] for p in day["data"]) == 6 and day["data"][-1]["start"] <= MINUTE < day["to"]


def test_retention_removes_old_rows_and_refuses_reports_outside_it(analytics: AnalyticsStore, clock: Clock) -> None:
    analytics.record(report(MINUTE - 1499 * 60, row(ORDERS, s200=[1.0])))  # just inside 1500 minutes
    analytics.record(report(MINUTE, row(ORDERS, s200=[1.0])))
    assert set(rows_in(analytics.engine)) == {MINUTE - 1499 * 60, MINUTE}
    assert analytics.record(report(MINUTE - 1501 * 60, row(ORDERS, s200=[1.0]))) == 0  # too old
    assert analytics.record(report(MINUTE + 600, row(ORDERS, s200=[1.0]))) == 0  # a data plane's clock is off
    clock.advance(120)
    analytics.record(report(MINUTE + 120, row(ORDERS, s200=[1.0])))
    assert set(rows_in(analytics.engine)) == {MINUTE, MINUTE + 120}  # the old minute is gone


def test_purges_run_at_most_once_a_minute(analytics: AnalyticsStore, clock: Clock) -> None:
    old = MINUTE - 1498 * 60
    analytics.record(report(old, row(ORDERS, s200=[1.0])))  # (a purge ran: the first report of this node)
    clock.advance(70)
    analytics.record(report(MINUTE, row(ORDERS, s200=[1.0])))  # another purge; `old` is still kept
    clock.advance(40)  # `old` is out of the retention now, but the last purge was 40 s ago
    analytics.record(report(MINUTE, row(ORDERS, s200=[1.0])))
    assert old in rows_in(analytics.engine)
    clock.advance(30)
    analytics.record(report(MINUTE + 120, row(ORDERS, s200=[1.0])))
    assert old not in rows_in(analytics.engine)


def test_a_deleted_entity_keeps_the_name_it_was_reported_with(analytics: AnalyticsStore) -> None:
    analytics.record(report(MINUTE, row(ORDERS, SHOP, s200=[1.0])))
    analytics.record(report(MINUTE, row((ORDERS[0], "orders-v2"), SHOP, s200=[1.0])))
    assert [(r["name"], r["total"]) for r in analytics.summary("15m", Scope())["routes"]] == [("orders-v2", 2)]
