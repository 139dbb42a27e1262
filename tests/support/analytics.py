"""Analytics for the tests: latency counts, reports as data planes send them, and traffic through real
processes (routes to configure, requests to send)."""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

import httpx

from oidcgate.analytics.histogram import BUCKETS, SIZE
from oidcgate.cluster.protocol import Analytics, UsageRow

NOW = 1_700_000_000.0  # the tests' clock starts here (a minute starts at 1_699_999_980)
MINUTE = int(NOW) // 60 * 60


def latency_counts(*latencies: float) -> tuple[int, ...]:
    """A histogram of these latencies (ms) in the analytics buckets, as the data plane counts them."""
    counts = [0] * SIZE
    for latency in latencies:
        counts[bisect_left(BUCKETS, latency)] += 1
    return tuple(counts)


def row(route: tuple[str, str] | None = None, service: tuple[str, str] | None = None,
        consumer: tuple[str, str] | None = None, **codes: list[float]) -> UsageRow:
    """`s200=[1.5, 3.0]`: two 200s that took 1.5 and 3 ms; route/service/consumer as (id, name)."""
    counted = {int(code[1:]): len(latencies) for code, latencies in codes.items()}
    latency = latency_counts(*(value for latencies in codes.values() for value in latencies))
    service_id, service_name = service or (None, "")
    route_id, route_name = route or (None, "")
    consumer_id, consumer_name = consumer or (None, "")
    return UsageRow(service_id, service_name, route_id, route_name, consumer_id, consumer_name, counted, latency)


def report(minute: int, *rows: UsageRow) -> Analytics:
    return Analytics(minute, rows)


def configure_routes(admin: httpx.Client, echo: str, issuer: str, client_id: str) -> dict[str, str]:
    """Through the Admin API: service `echo` with routes `/open` and `/secured` (openid-connect, the
    token's `sub` mapped to a consumer), service `flaky` whose route `/flaky` answers 503, and the
    consumer of the client `client_id`. Returns the route ids by name."""
    routes = {}
    for path, body in (
            ("/services", {"name": "echo", "url": f"{echo}/anything"}),
            ("/services", {"name": "flaky", "url": f"{echo}/status/503"}),
            ("/services/echo/routes", {"name": "open", "paths": ["/open"]}),
            ("/services/echo/routes", {"name": "secured", "paths": ["/secured"]}),
            ("/services/flaky/routes", {"name": "flaky", "paths": ["/flaky"]}),
            ("/routes/secured/plugins", {"name": "openid-connect", "config": {
                "issuer": issuer, "scopes": ["orders:read"], "consumer_claim": ["sub"], "consumer_by": ["username"]}}),
            ("/consumers", {"username": client_id})):
        response = admin.post(path, json=body)
        assert response.status_code == 201, response.text
        if path.endswith("/routes"):
            routes[body["name"]] = response.json()["id"]
    return routes


def send(proxy: str, path: str, status: int, count: int, client: dict[str, Any] | None = None) -> None:
    """`count` requests to `path`, with the client's credentials if given, each answered `status`; a new
    connection each, so the kernel spreads them over the data plane's workers."""
    auth = (client["client_id"], client["client_secret"]) if client is not None else None
    for _ in range(count):
        response = httpx.get(proxy + path, auth=auth, timeout=30)
        assert response.status_code == status, (proxy, path, response.text)
