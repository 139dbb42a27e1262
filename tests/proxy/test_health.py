"""Upstreams with targets on real traffic: round-robin, passive health, retries on the next target."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.proxy.conftest import StartDP
from tests.support.processes import free_port


def upstream_doc(targets: list[str], retries: int, **healthchecks: Any) -> dict[str, Any]:
    return {"_format_version": "3.0",
            "upstreams": [{"name": "pool", "healthchecks": healthchecks,
                           "targets": [{"target": t} for t in targets]}],
            "services": [{"name": "svc", "host": "pool", "retries": retries,
                          "routes": [{"name": "all", "paths": ["/"]}]}]}


def codes(url: str, n: int) -> list[int]:
    with httpx.Client(timeout=10) as client:
        return [client.get(url + "/get").status_code for _ in range(n)]


def test_a_failing_target_is_taken_out_then_tried_again(dataplane: StartDP, echo_port: int) -> None:
    dead = f"127.0.0.1:{free_port()}"
    dp = dataplane(upstream_doc([dead, f"127.0.0.1:{echo_port}"], retries=0,
                                passive={"unhealthy": {"tcp_failures": 1}}, active={"unhealthy": {"interval": 1}}))
    first = codes(dp.url, 10)
    assert first.count(502) == 1, first  # picked once, then skipped
    assert first[-6:] == [200] * 6
    health = {t["target"]: t["health"] for t in dp.status()["workers"][0]["upstreams"]["pool"]}
    assert health == {dead: "UNHEALTHY", f"127.0.0.1:{echo_port}": "HEALTHY"}
    time.sleep(1.3)  # healthchecks.active.unhealthy.interval: the target gets another chance
    second = codes(dp.url, 10)
    assert second.count(502) == 1, second  # tried once more, still dead: out again


def test_retries_go_to_the_next_target(dataplane: StartDP, echo_port: int) -> None:
    dead = f"127.0.0.1:{free_port()}"
    dp = dataplane(upstream_doc([dead, f"127.0.0.1:{echo_port}"], retries=2))
    assert codes(dp.url, 12) == [200] * 12  # health checks off (Kong's default); the retry hides it


def test_no_healthy_target_503(dataplane: StartDP) -> None:
    dp = dataplane(upstream_doc([f"127.0.0.1:{free_port()}"], retries=0, passive={"unhealthy": {"tcp_failures": 1}}))
    assert codes(dp.url, 1) == [502]
    response = httpx.get(dp.url + "/get")
    assert response.status_code == 503
    assert response.json() == {"message": "failure to get a peer from the ring-balancer"}
