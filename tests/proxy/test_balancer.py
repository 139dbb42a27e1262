"""Weighted round-robin and passive health checks (unit level; see test_health.py for real traffic)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from oidcgate.config.entities import Target, Upstream
from oidcgate.proxy.balancer import Balancer, Fixed


def balancer(targets: list[tuple[str, int]], **healthchecks: Any) -> Balancer:
    upstream = Upstream.model_validate({"name": "up", "healthchecks": healthchecks})
    return Balancer(upstream, [Target(target=t, weight=w, upstream="up") for t, w in targets], "http")


def names(b: Balancer, n: int) -> list[str]:
    return [f"{p.address[0]}:{p.address[1]}" for p in (b.pick() for _ in range(n)) if p is not None]


def test_weighted_round_robin_is_smooth() -> None:
    b = balancer([("a:1", 300), ("b:1", 100)])
    picks = names(b, 400)
    assert Counter(picks) == {"a:1": 300, "b:1": 100}
    assert "b:1" in picks[:4]  # smooth: the light target is not starved at the start
    longest_run = max(len(run) for run in "".join("a" if p == "a:1" else "b" for p in picks).split("b"))
    assert longest_run <= 3


def test_weight_zero_disables_a_target() -> None:
    assert Counter(names(balancer([("a:1", 100), ("b:1", 0)]), 10)) == {"a:1": 10}
    assert balancer([("a:1", 0)]).pick() is None


def test_host_header_per_target_and_upstream_override() -> None:
    b = balancer([("api.internal:80", 100), ("10.0.0.2:8080", 100)])
    assert {p.host_header for p in b.peers} == {b"api.internal", b"10.0.0.2:8080"}
    upstream = Upstream.model_validate({"name": "up", "host_header": "svc.example.com"})
    overridden = Balancer(upstream, [Target(target="10.0.0.2:8080", upstream="up")], "http")
    assert overridden.peers[0].host_header == b"svc.example.com"
    assert Fixed("example.com", 443, "https").peer.host_header == b"example.com"


def test_passive_health_takes_out_and_readmits() -> None:
    b = balancer([("a:1", 100), ("b:1", 100)],
                 passive={"unhealthy": {"tcp_failures": 2, "http_failures": 1, "http_statuses": [500]}},
                 active={"unhealthy": {"interval": 0.3}})
    a = b.peers[0]
    b.report(a, "tcp")
    assert set(names(b, 4)) == {"a:1", "b:1"}  # one failure of two allowed
    b.report(a, "ok", 200)  # a success resets the count
    b.report(a, "tcp")
    assert a.healthy
    b.report(a, "tcp")
    assert not a.healthy
    assert set(names(b, 6)) == {"b:1"}
    time.sleep(0.35)  # healthchecks.active.unhealthy.interval
    assert "a:1" in names(b, 4)  # tried again
    b.report(a, "ok", 500)  # and fails (an unhealthy status): out again at once
    assert set(names(b, 6)) == {"b:1"}
    time.sleep(0.35)
    b.report(a, "ok", 200)
    assert a.healthy and set(names(b, 4)) == {"a:1", "b:1"}


def test_all_targets_unhealthy_means_no_peer() -> None:
    b = balancer([("a:1", 100)], passive={"unhealthy": {"timeouts": 1}})
    b.report(b.peers[0], "timeout")
    assert b.pick() is None


def test_health_checks_off_by_default_like_kong() -> None:
    b = balancer([("a:1", 100)])
    for _ in range(100):
        b.report(b.peers[0], "tcp")
    assert b.pick() is not None and not b.tracks


def test_health_survives_a_new_snapshot() -> None:
    old = balancer([("a:1", 100), ("b:1", 100)], passive={"unhealthy": {"tcp_failures": 1}})
    old.report(old.peers[0], "tcp")
    new = balancer([("a:1", 100), ("b:1", 100), ("c:1", 100)], passive={"unhealthy": {"tcp_failures": 1}})
    new.inherit(old)
    assert [p.healthy for p in new.peers] == [False, True, True]
