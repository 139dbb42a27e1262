"""http-log through a real `oidcgate dp` to a collector the test runs: Kong's entries in batches, nothing of a
secret in them, a collector that goes down and comes back losing nothing within the queue's bounds, a
full queue's drops counted, and no request slowed by a collector that hangs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.plugins.observability.collector import Collector
from tests.plugins.observability.gateway import Gateway, gateway
from tests.support.polling import wait_until

pytestmark = pytest.mark.e2e

QUEUE = {"max_batch_size": 5, "max_coalescing_delay": 0.2, "max_entries": 1000, "initial_retry_delay": 0.05,
         "max_retry_delay": 0.2, "max_retry_time": 60}


def document(echo_port: int, collector: Collector, timeout: int = 500, **queue: Any) -> dict[str, Any]:
    plugin = {"name": "http-log", "config": {
        "http_endpoint": f"http://logger:s3cret-pass@127.0.0.1:{collector.port}/logs", "headers": {"X-Tenant": "edge"},
        "queue": {**QUEUE, **queue}, "timeout": timeout,
        "custom_fields": {"environment": "test", "team.name": "edge", "service.tier": "gold"}}}
    return {"_format_version": "3.0", "services": [{"name": "echo", "url": f"http://127.0.0.1:{echo_port}", "routes": [
        {"name": "logged", "paths": ["/logged"], "plugins": [plugin]},
        {"name": "quiet", "paths": ["/quiet"]}]}]}


@pytest.fixture
def collector() -> Iterator[Collector]:
    started = Collector().start()
    yield started
    started.stop()


def dropped(gate: Gateway, reason: str) -> float:
    for line in gate.metrics().splitlines():
        if line.startswith("oidcgate_queue_entries_dropped_total") and f'plugin="http-log",reason="{reason}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_entries_in_kongs_shape_batched_and_without_secrets(tmp_path: Path, collector: Collector) -> None:
    with gateway(tmp_path, lambda echo: document(echo, collector)) as gate:
        for i in range(12):
            response = gate.get(f"/logged/anything/{i}?access_token=SECRET-QUERY&page=2", headers={
                "Authorization": "Bearer SECRET-HEADER", "Cookie": "session=SECRET-COOKIE",
                "X-Api-Key": "SECRET-KEY", "X-Custom": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJTRUNSRVQifQ.SECRETsig",
                "X-Visible": "plain"})
            assert response.status_code == 200
        gate.get("/quiet/get")  # a route without the plugin: not logged
        wait_until(lambda: len(collector.entries()) >= 12)
        entries = collector.entries()
    assert len(entries) == 12
    bodies = [r.body for r in collector.received]
    assert all(b"SECRET" not in body and b"s3cret" not in body for body in bodies)
    assert all(isinstance(r.json(), list) and 1 <= len(r.json()) <= 5 for r in collector.received)
    assert len(collector.received) < 12  # batched
    received = collector.received[0]
    assert received.method == "POST" and received.path == "/logs"
    assert received.headers["content-type"] == "application/json" and received.headers["x-tenant"] == "edge"
    assert received.headers["authorization"] == "Basic bG9nZ2VyOnMzY3JldC1wYXNz"  # the endpoint's user info

    entry = next(e for e in entries if e["request"]["uri"].startswith("/logged/anything/3"))
    request, response = entry["request"], entry["response"]
    assert request["method"] == "GET"
    assert request["uri"] == "/logged/anything/3?access_token=REDACTED&page=REDACTED"
    assert request["url"] == f"http://127.0.0.1:{gate.port}/logged/anything/3?access_token=REDACTED&page=REDACTED"
    assert request["querystring"] == {"access_token": "REDACTED", "page": "REDACTED"}
    assert request["headers"]["authorization"] == "REDACTED" and request["headers"]["cookie"] == "REDACTED"
    assert request["headers"]["x-api-key"] == "REDACTED" and request["headers"]["x-custom"] == "REDACTED"
    assert request["headers"]["x-visible"] == "plain"
    assert request["size"] > 0
    assert response["status"] == 200 and response["size"] > 0
    assert response["headers"]["content-type"] == "application/json"
    assert entry["upstream_uri"] == "/anything/3?access_token=REDACTED&page=REDACTED"
    assert entry["route"]["name"] == "logged" and entry["route"]["paths"] == ["/logged"]
    assert entry["service"]["name"] == "echo" and entry["service"]["port"] == gate.echo_port
    assert entry["tries"] == [{"ip": "127.0.0.1", "port": gate.echo_port}]
    assert entry["client_ip"] == "127.0.0.1"
    assert abs(entry["started_at"] / 1000 - time.time()) < 60
    latencies = entry["latencies"]
    assert set(latencies) == {"request", "proxy", "kong", "receive"}
    assert latencies["request"] >= latencies["proxy"] >= 0 and latencies["kong"] >= 0
    assert entry["environment"] == "test" and entry["team"] == {"name": "edge"}
    assert entry["service"]["tier"] == "gold"  # custom fields go inside an entity too
    assert "consumer" not in entry and "authenticated_entity" not in entry


def test_a_collector_down_then_up_loses_nothing_within_the_queues_bounds(tmp_path: Path,
                                                                          collector: Collector) -> None:
    with gateway(tmp_path, lambda echo: document(echo, collector)) as gate:
        collector.stop()
        for i in range(30):
            assert gate.get(f"/logged/anything/{i}").status_code == 200
        assert collector.entries() == []
        collector.start()
        wait_until(lambda: len(collector.entries()) >= 30, timeout=30)
        entries = collector.entries()
        assert sorted(int(e["request"]["uri"].rsplit("/", 1)[1]) for e in entries) == list(range(30))
        assert dropped(gate, "full") == dropped(gate, "retries") == 0


def test_a_full_queue_drops_the_oldest_and_counts_them(tmp_path: Path, collector: Collector) -> None:
    queue = {"max_batch_size": 1, "max_entries": 5}
    with gateway(tmp_path, lambda echo: document(echo, collector, **queue)) as gate:
        collector.stop()
        for i in range(12):
            assert gate.get(f"/logged/anything/{i}").status_code == 200
        # the first entry is with the sender (retried), five wait, the six between them were dropped
        wait_until(lambda: dropped(gate, "full") == 6)
        collector.start()
        wait_until(lambda: len(collector.entries()) >= 6, timeout=30)
        entries = collector.entries()
        assert sorted(int(e["request"]["uri"].rsplit("/", 1)[1]) for e in entries) == [0, 7, 8, 9, 10, 11]
        assert isinstance(collector.received[0].json(), dict)  # a batch of one is the entry itself (Kong)


def test_no_request_waits_for_a_collector_that_hangs(tmp_path: Path, collector: Collector) -> None:
    collector.hang()  # accepts, reads, and does not answer (the sender times out after 3 s, and retries)
    with gateway(tmp_path, lambda echo: document(echo, collector, timeout=3000)) as gate, \
            httpx.Client(timeout=10) as client:
        slowest = 0.0
        for i in range(40):
            started = time.monotonic()
            assert client.get(f"{gate.url}/logged/anything/{i}").status_code == 200
            slowest = max(slowest, time.monotonic() - started)
        assert slowest < 1.0  # a request that waited for the collector would take its 3 s timeout at least
        collector.release.set()
        wait_until(lambda: len(collector.entries()) >= 40, timeout=30)
        entries = collector.entries()
        assert len({e["request"]["uri"] for e in entries}) == 40
