"""Analytics end to end with real processes: `oidcgate cp`, two `oidcgate dp` (one of them with two workers)
reporting every second, the echo upstream and `oidcgate idp`. A known mix of 2xx, 401, 404 and 503 is sent
through both data planes; the control plane's rollups must hold exactly that traffic, by route, consumer
and status."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cluster import topology
from tests.cluster.topology import DataPlane
from tests.idp.helpers import running_idp
from tests.support.analytics import configure_routes, send
from tests.support.polling import wait_until

pytestmark = pytest.mark.e2e

REPORT_EVERY_SECOND = ("--analytics-flush-interval", "1")
ROLLUP_BUDGET = 20.0  # seconds for the data planes' reports to reach the rollups (they come every second)
# Requests per data plane: (path, with the client's credentials, expected status, count on dp1, on dp2).
MIX = (("/open", False, 200, 7, 5), ("/secured", False, 401, 3, 2), ("/secured", True, 200, 4, 3),
       ("/flaky", False, 503, 1, 1), ("/nowhere", False, 404, 2, 4))


def send_mix(dps: list[DataPlane], client: dict[str, Any]) -> None:
    for index, dp in enumerate(dps):
        for path, authenticated, status, *counts in MIX:
            send(dp.proxy, path, status, counts[index], client if authenticated else None)


def sent(path: str, status: int) -> int:
    """Requests of the mix to `path` answered `status`, both data planes together."""
    return sum(dp1 + dp2 for p, _, s, dp1, dp2 in MIX if (p, s) == (path, status))


def summary(admin: httpx.Client, **params: str) -> dict[str, Any]:
    response = admin.get("/analytics/summary", params={"window": "15m", **params})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_analytics_totals_equal_the_traffic_sent_across_two_data_planes(tmp_path: Path) -> None:
    files = topology.cluster_files(tmp_path)
    with contextlib.ExitStack() as stack:
        idp = stack.enter_context(running_idp(tmp_path))
        client = idp.cc_client()
        echo_proc, echo = topology.echo(tmp_path)
        stack.callback(echo_proc.stop)
        cp, dps = topology.control_plane_with_data_planes(
            stack, tmp_path, files, extra={"dp1": ("--workers", "2", *REPORT_EVERY_SECOND), "dp2": REPORT_EVERY_SECOND})
        admin = stack.enter_context(httpx.Client(base_url=cp.admin, timeout=10))
        configure_routes(admin, echo, idp.issuer(), client["client_id"])
        config_hash = admin.get("/clustering/status").json()["config_hash"]
        wait_until(lambda: all(dp.config_hash() == config_hash for dp in dps), timeout=10)

        send_mix(dps, client)
        ok_open, unauthorized = sent("/open", 200), sent("/secured", 401)
        ok_secured, not_found, failed = sent("/secured", 200), sent("/nowhere", 404), sent("/flaky", 503)
        total = ok_open + unauthorized + ok_secured + not_found + failed
        wait_until(lambda: summary(admin)["total"] >= total, timeout=ROLLUP_BUDGET, interval=0.2)

        body = summary(admin)
        assert (body["total"], body["by_status_class"], body["by_status"]) == (
            total, {"1xx": 0, "2xx": ok_open + ok_secured, "3xx": 0, "4xx": unauthorized + not_found, "5xx": failed},
            {"401": unauthorized, "403": 0, "429": 0})
        assert all(isinstance(body["latency_ms"][p], float) for p in ("p50", "p95", "p99"))
        routes = {r["name"]: r for r in body["routes"]}
        assert {name: r["total"] for name, r in routes.items()} == {
            "open": ok_open, "secured": unauthorized + ok_secured, "flaky": failed, None: not_found}
        assert routes["secured"]["by_status"]["401"] == unauthorized and routes["secured"]["service"]["name"] == "echo"
        assert [(c["name"], c["total"], c["by_status_class"]["2xx"]) for c in body["consumers"]] == [
            (client["client_id"], ok_secured, ok_secured)]
        series = admin.get("/analytics/timeseries", params={"route": "secured"}).json()
        assert sum(point["total"] for point in series["data"]) == unauthorized + ok_secured
        by_consumer = admin.get("/analytics/timeseries", params={"consumer": client["client_id"]}).json()
        assert sum(point["total"] for point in by_consumer["data"]) == ok_secured

        for dp in dps:  # later reports add what is new, and count nothing twice
            assert httpx.get(dp.proxy + "/open", timeout=30).status_code == 200
        wait_until(lambda: summary(admin)["total"] >= total + 2, timeout=ROLLUP_BUDGET, interval=0.2)
        after = summary(admin)
        assert after["total"] == total + 2 and {r["name"]: r["total"] for r in after["routes"]}["open"] == ok_open + 2
