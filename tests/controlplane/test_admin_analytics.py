"""`GET /analytics/summary` and `GET /analytics/timeseries` on SQLite and PostgreSQL: the JSON shapes,
scopes by id or name, and bad options answered with Kong's errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from oidcgate.controlplane.admin.app import create_app
from oidcgate.controlplane.analytics import AnalyticsStore
from oidcgate.controlplane.store import Store
from tests.controlplane.conftest import created, make_client
from tests.support.analytics import MINUTE, NOW, report, row
from tests.support.clock import Clock


@pytest.fixture
def analytics(store: Store) -> AnalyticsStore:
    return AnalyticsStore(store.engine, clock=Clock(lambda: NOW))


@pytest.fixture
async def admin(store: Store, analytics: AnalyticsStore) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(create_app(store, analytics_store=analytics)) as client:
        yield client


async def traffic(admin: httpx.AsyncClient, analytics: AnalyticsStore) -> dict[str, Any]:
    """A service with two routes and a consumer, and one minute of their traffic."""
    shop = await created(admin, "/services", name="shop", host="shop.internal")
    orders = await created(admin, "/services/shop/routes", name="orders", paths=["/orders"])
    users = await created(admin, "/services/shop/routes", name="users", paths=["/users"])
    alice = await created(admin, "/consumers", username="alice")
    refs = {"shop": (shop["id"], "shop"), "orders": (orders["id"], "orders"), "users": (users["id"], "users"),
            "alice": (alice["id"], "alice")}
    analytics.record(report(
        MINUTE, row(refs["orders"], refs["shop"], refs["alice"], s200=[1.5] * 6, s403=[0.5]),
        row(refs["orders"], refs["shop"], s401=[0.5] * 3), row(refs["users"], refs["shop"], s200=[30.0] * 2),
        row(s404=[0.2] * 4)))
    return {name: ref[0] for name, ref in refs.items()}


async def test_summary_of_a_window(admin: httpx.AsyncClient, analytics: AnalyticsStore) -> None:
    ids = await traffic(admin, analytics)
    response = await admin.get("/analytics/summary", params={"window": "1h"})
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("window", "from", "to", "total", "by_status_class", "by_status", "scope")} == {
        "window": "1h", "from": MINUTE - 59 * 60, "to": MINUTE + 60, "total": 16,
        "by_status_class": {"1xx": 0, "2xx": 8, "3xx": 0, "4xx": 8, "5xx": 0},
        "by_status": {"401": 3, "403": 1, "429": 0}, "scope": {}}
    assert set(body["latency_ms"]) == {"p50", "p95", "p99"} and body["latency_ms"]["p99"] == 29.6  # rank 15.84: in (25, 30]
    assert body["routes"][0] == {
        "id": ids["orders"], "name": "orders", "service": {"id": ids["shop"], "name": "shop"}, "total": 10,
        "by_status_class": {"1xx": 0, "2xx": 6, "3xx": 0, "4xx": 4, "5xx": 0},
        "by_status": {"401": 3, "403": 1, "429": 0}, "latency_ms": body["routes"][0]["latency_ms"]}
    assert [(r["name"], r["total"]) for r in body["routes"]] == [("orders", 10), (None, 4), ("users", 2)]
    assert [(c["name"], c["total"]) for c in body["consumers"]] == [("alice", 7)]
    assert (await admin.get("/analytics/summary")).json()["window"] == "15m"  # the default


@pytest.mark.parametrize(("params", "scope", "total"), [
    ({"route": "orders"}, {"route": "orders"}, 10),
    ({"service": "shop"}, {"service": "shop"}, 12),
    ({"consumer": "alice"}, {"consumer": "alice"}, 7),
    ({"route": "users", "consumer": "alice"}, {"route": "users", "consumer": "alice"}, 0),
])
async def test_a_scope_by_name_or_id(admin: httpx.AsyncClient, analytics: AnalyticsStore, params: dict[str, str],
                                     scope: dict[str, str], total: int) -> None:
    ids = await traffic(admin, analytics)
    by_name = (await admin.get("/analytics/summary", params=params)).json()
    assert (by_name["total"], by_name["scope"]) == (total, {kind: ids[name] for kind, name in scope.items()})
    by_id = await admin.get("/analytics/summary", params={kind: ids[name] for kind, name in params.items()})
    assert by_id.json()["total"] == total


async def test_a_deleted_routes_traffic_stays_visible_by_id(admin: httpx.AsyncClient, analytics: AnalyticsStore) -> None:
    ids = await traffic(admin, analytics)
    assert (await admin.delete("/routes/users")).status_code == 204
    assert (await admin.get("/analytics/summary", params={"route": "users"})).status_code == 404
    kept = await admin.get("/analytics/summary", params={"route": ids["users"].upper()})
    assert (kept.status_code, kept.json()["total"], kept.json()["routes"][0]["name"]) == (200, 2, "users")


async def test_a_time_series_per_route_or_consumer(admin: httpx.AsyncClient, analytics: AnalyticsStore) -> None:
    ids = await traffic(admin, analytics)
    response = await admin.get("/analytics/timeseries", params={"route": "orders", "window": "15m"})
    assert response.status_code == 200
    body = response.json()
    assert (body["window"], body["step"], body["scope"], len(body["data"])) == ("15m", 60, {"route": ids["orders"]}, 15)
    assert body["data"][-1]["start"] == MINUTE and body["data"][-1]["total"] == 10
    assert all(point["total"] == 0 for point in body["data"][:-1])
    consumer = (await admin.get("/analytics/timeseries", params={"consumer": "alice", "window": "1d"})).json()
    assert (consumer["step"], sum(p["total"] for p in consumer["data"])) == (900, 7)
    assert consumer["data"][-1]["by_status"]["403"] == 1


@pytest.mark.parametrize("path", ["/analytics/summary", "/analytics/timeseries"])
@pytest.mark.parametrize(("params", "option", "message"), [
    ({"window": "2h"}, "window", "must be one of 15m, 1h, 1d"),
    ({"window": ""}, "window", "must be one of 15m, 1h, 1d"),
    ({"route": ""}, "route", "expected the id or name of one of routes"),
    ({"consumer": ""}, "consumer", "expected the id or name of one of consumers"),
])
async def test_bad_options_are_kongs_invalid_options(admin: httpx.AsyncClient, path: str, params: dict[str, str],
                                                     option: str, message: str) -> None:
    response = await admin.get(path, params=params)
    assert response.status_code == 400
    assert response.json() == {"code": 11, "name": "invalid options", "message": f"invalid option ({option}: {message})",
                               "options": {option: message}}


@pytest.mark.parametrize("params", [{"route": "nope"}, {"service": "nope"}, {"consumer": "nobody"},
                                    {"route": "a\x00b"}])
async def test_an_unknown_name_is_not_found(admin: httpx.AsyncClient, params: dict[str, str]) -> None:
    response = await admin.get("/analytics/timeseries", params=params)
    assert (response.status_code, response.json()) == (404, {"message": "Not found"})


async def test_only_get(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/analytics/summary", json={})
    assert (response.status_code, response.json()) == (405, {"message": "Method not allowed"})
