"""Weighted round-robin, consistent hashing, least connections, latency and passive health checks (unit
level; see test_health.py for real traffic)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from oidcgate.config.entities import Consumer, Target, Upstream
from oidcgate.http.fields import HeaderFields
from oidcgate.proxy.balancer import DECAY, Balancer, Fixed, Peer


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


class Request:
    """What consistent hashing reads of a request (proxy.balancer.Balanced), set by hand."""

    def __init__(self, headers: dict[str, str] | None = None, path: bytes = b"/", query: bytes = b"",
                 ip: str = "127.0.0.1", consumer: Consumer | None = None,
                 captures: dict[str, str] | None = None) -> None:
        self.client_fields = HeaderFields.of((headers or {}).items())
        self.parts = (path, query)
        self.ip, self.consumer, self.captures = ip, consumer, captures or {}

    def target_parts(self) -> tuple[bytes, bytes]:
        return self.parts

    def forwarded_ip(self) -> str:
        return self.ip

    def attached_consumer(self) -> Consumer | None:
        return self.consumer

    def uri_captures(self) -> dict[str, str]:
        return self.captures

    def affinity_cookie(self, name: str, path: str) -> str:
        self.made = (name, path)
        return "made-up"


def hashing(targets: list[tuple[str, int]], **upstream: Any) -> Balancer:
    spec = Upstream.model_validate({"name": "up", "algorithm": "consistent-hashing", **upstream})
    return Balancer(spec, [Target(target=t, weight=w, upstream="up") for t, w in targets], "http")


def target_of(b: Balancer, request: Request, tried: list[Peer] | None = None) -> str:
    peer = b.choose(request, tried or [])
    assert peer is not None
    return f"{peer.address[0]}:{peer.address[1]}"


def test_consistent_hashing_sends_a_value_to_one_target_by_weight() -> None:
    b = hashing([("a:1", 100), ("b:1", 100), ("c:1", 200)], hash_on="header", hash_on_header="X-User")
    users = [f"user-{i}" for i in range(4000)]
    placed = {user: target_of(b, Request({"x-user": user})) for user in users}
    assert all(target_of(b, Request({"X-User": user})) == placed[user] for user in users[:200])  # stable
    share = Counter(placed.values())
    assert 0.45 < share["c:1"] / len(users) < 0.55  # (weight 200 of 400)
    assert 0.20 < share["a:1"] / len(users) < 0.30
    # A new target takes values only from the others (about its share), and moves none between them.
    grown = hashing([("a:1", 100), ("b:1", 100), ("c:1", 200), ("d:1", 100)], hash_on="header",
                    hash_on_header="X-User")
    moved = {user: target_of(grown, Request({"x-user": user})) for user in users}
    changed = [user for user in users if moved[user] != placed[user]]
    assert all(moved[user] == "d:1" for user in changed)
    assert 0.15 < len(changed) / len(users) < 0.25  # (100 of 500)


def test_consistent_hashing_inputs_and_fallback() -> None:
    consumer = Consumer(id="6c5c6b2e-0000-4000-8000-000000000001", username="alice")
    targets = [(f"t{i}:1", 100) for i in range(8)]
    by_ip = hashing(targets, hash_on="ip")
    assert len({target_of(by_ip, Request(ip="10.0.0.7", path=f"/{i}".encode())) for i in range(20)}) == 1
    by_consumer = hashing(targets, hash_on="consumer", hash_fallback="ip")
    alice = {target_of(by_consumer, Request(consumer=consumer, ip=f"10.0.0.{i}")) for i in range(20)}
    assert len(alice) == 1  # the consumer, whatever the address
    assert len({target_of(by_consumer, Request(ip=f"10.0.0.{i}")) for i in range(40)}) > 1  # else the address
    by_query = hashing(targets, hash_on="query_arg", hash_on_query_arg="tenant", hash_fallback="path")
    assert len({target_of(by_query, Request(path=f"/{i}".encode(), query=b"?tenant=acme&x=1")) for i in range(20)}) == 1
    assert target_of(by_query, Request(path=b"/p", query=b"?other=1")) == target_of(by_query, Request(path=b"/p"))
    by_capture = hashing(targets, hash_on="uri_capture", hash_on_uri_capture="account")
    assert len({target_of(by_capture, Request(captures={"account": "42"}, path=f"/{i}".encode()))
                for i in range(20)}) == 1
    # Without any input: weighted round-robin.
    assert Counter(target_of(by_capture, Request()) for _ in range(80)) == {name: 10 for name, _ in targets}


def test_consistent_hashing_passes_over_unhealthy_and_tried_targets() -> None:
    b = hashing([("a:1", 100), ("b:1", 100), ("c:1", 100)], hash_on="header", hash_on_header="X-User",
                healthchecks={"passive": {"unhealthy": {"tcp_failures": 1}}, "active": {"unhealthy": {"interval": 60}}})
    request = Request({"x-user": "bob"})
    home = b.choose(request)
    assert home is not None
    second = b.choose(request, [home])
    assert second is not None and second is not home  # a retry goes elsewhere
    b.report(home, "tcp")  # out of rotation: its values go to the target that was their second choice
    assert b.choose(request) is second
    assert b.choose(request, [p for p in b.peers if p is not home]) is not None  # (all tried: any live one)


def test_least_connections_counts_requests_under_way_by_weight() -> None:
    spec = Upstream.model_validate({"name": "up", "algorithm": "least-connections"})
    b = Balancer(spec, [Target(target="a:1", weight=100, upstream="up"),
                        Target(target="b:1", weight=300, upstream="up")], "http")
    a, heavy = b.peers
    assert a.counting and heavy.counting
    picks = []
    for _ in range(8):  # requests that stay under way: 1 of 4 goes to a
        peer = b.choose(Request())
        assert peer is not None
        peer.active += 1  # (the exchange counts it, see Exchange._balanced)
        picks.append(peer)
    assert (picks.count(a), picks.count(heavy)) == (2, 6)
    assert b.choose(Request(), [heavy]) is a  # (a retry)
    even = Balancer(spec, [Target(target="a:1", upstream="up"), Target(target="b:1", upstream="up")], "http")
    assert {id(even.choose(Request())) for _ in range(4)} == {id(p) for p in even.peers}  # idle: ties take turns


def test_consistent_hashing_on_a_cookie_makes_one_up_for_a_new_client() -> None:
    targets = [(f"t{i}:1", 100) for i in range(8)]
    b = hashing(targets, hash_on="cookie", hash_on_cookie="affinity", hash_on_cookie_path="/app")
    new = Request({"cookie": "other=1"})
    home = target_of(b, new)
    assert new.made == ("affinity", "/app")
    assert target_of(b, Request({"cookie": "a=1; affinity=made-up"})) == home  # (what the response set)
    placed = {target_of(b, Request({"cookie": f"affinity=client-{i}"})) for i in range(40)}
    assert len(placed) > 1
    assert not hasattr(Request({"cookie": "affinity=x"}), "made")


def test_latency_prefers_the_fastest_target_for_its_weight_and_retries_the_others_in_time() -> None:
    spec = Upstream.model_validate({"name": "up", "algorithm": "latency"})
    b = Balancer(spec, [Target(target="a:1", upstream="up"), Target(target="b:1", upstream="up"),
                        Target(target="c:1", weight=300, upstream="up")], "http")
    a, slow, heavy = b.peers
    assert b.tracks and not b.enabled  # every response is reported; passive health stays off
    assert len({id(b.choose(Request())) for _ in range(3)}) == 3  # nothing measured yet: in turn
    b.report(a, "ok", 200, 0.010)
    b.report(slow, "ok", 200, 0.200)
    b.report(heavy, "ok", 200, 0.025)  # slower than a, but three times its weight
    assert {id(b.choose(Request())) for _ in range(6)} == {id(heavy)}
    assert b.choose(Request(), [heavy]) is a  # a retry: the next best
    now = time.monotonic()
    assert a.latency(now) == pytest.approx(0.010, rel=0.01)
    assert slow.latency(now + 30) < slow.latency(now) / 19  # (e**-3: an idle target decays towards 0)
    # A response moves the average by the time since the last one (Kong's EWMA), not by one step each.
    a.measured(1.0, a.touched + 0.001)
    assert a.ewma < 0.011
    a.measured(1.0, a.touched + DECAY)
    assert 0.6 < a.ewma < 0.7  # (1 - e**-1 of the way)


def test_latency_counts_a_new_target_as_the_average_and_keeps_measures_across_snapshots() -> None:
    spec = Upstream.model_validate({"name": "up", "algorithm": "latency"})
    old = Balancer(spec, [Target(target="a:1", upstream="up"), Target(target="b:1", upstream="up")], "http")
    old.report(old.peers[0], "ok", 200, 0.010)
    old.report(old.peers[1], "ok", 200, 0.100)
    new = Balancer(spec, [Target(target="a:1", upstream="up"), Target(target="b:1", upstream="up"),
                          Target(target="n:1", upstream="up")], "http")
    new.inherit(old)
    fast, _, fresh = new.peers
    assert fast.ewma == pytest.approx(0.010)
    picks = Counter(id(new.choose(Request())) for _ in range(4))
    assert picks == {id(fast): 4}  # the new one counts as the average (55 ms), not as 0: no stampede
    assert fresh.touched == 0.0


def test_consistent_hashing_on_a_query_argument_takes_any_bytes() -> None:
    """Percent-escapes that are not UTF-8 (a stranger's) are hashed as the bytes they stand for."""
    b = hashing([(f"t{i}:1", 100) for i in range(8)], hash_on="query_arg", hash_on_query_arg="tenant")
    odd = Request(query=b"?tenant=%ff%fe&tenant=%zz")
    assert target_of(b, odd) == target_of(b, Request(query=b"?tenant=%FF%FE%zz"))
