"""Upstreams with targets on real traffic: round-robin, consistent hashing, least connections, passive
health, retries on the next target."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx

from tests.proxy.conftest import StartDP
from tests.support.polling import wait_until
from tests.support.processes import free_port
from tests.support.threaded_http import serving


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


def test_consistent_hashing_keeps_a_client_on_its_target(dataplane: StartDP, echo_port: int) -> None:
    """Two targets (the echo server under two names, told apart by the Host it is sent): every request with
    one X-User value reaches the same one; without the header, round-robin."""
    doc = upstream_doc([f"127.0.0.1:{echo_port}", f"localhost:{echo_port}"], retries=0)
    doc["upstreams"][0].update(algorithm="consistent-hashing", hash_on="header", hash_on_header="X-User")
    dp = dataplane(doc)
    with httpx.Client(timeout=10) as client:
        def target(user: str | None) -> str:
            response = client.get(dp.url + "/anything", headers={"X-User": user} if user else {})
            assert response.status_code == 200
            return str(response.json()["headers"]["Host"])

        homes = {user: {target(user) for _ in range(5)} for user in (f"user-{i}" for i in range(16))}
        assert all(len(home) == 1 for home in homes.values()), homes
        assert set().union(*homes.values()) == {f"127.0.0.1:{echo_port}", f"localhost:{echo_port}"}
        assert len({target(None) for _ in range(4)}) == 2


def test_least_connections_sends_new_requests_past_a_busy_target(dataplane: StartDP, echo_port: int) -> None:
    """While slow requests keep one target busy, the next ones go to the other; once they end, the count
    falls back (requests under way are counted from the pick to the end of the exchange, retries included)."""
    doc = upstream_doc([f"127.0.0.1:{echo_port}", f"localhost:{echo_port}"], retries=0)
    doc["upstreams"][0]["algorithm"] = "least-connections"
    dp = dataplane(doc)

    def host(response: httpx.Response) -> str:
        assert response.status_code == 200
        return str(response.json()["headers"]["Host"])

    with httpx.Client(timeout=10) as slow, httpx.Client(timeout=10) as fast:
        first = host(fast.get(dp.url + "/anything"))  # (warms both clients' first pick; idle: ties take turns)
        with ThreadPoolExecutor(1) as pool:
            busy = pool.submit(lambda: host(slow.get(dp.url + "/delay/1")))
            wait_until(lambda: dp.status()["server"]["connections_writing"] >= 1, timeout=5)
            during = {host(fast.get(dp.url + "/anything")) for _ in range(4)}
            busy_target = busy.result(timeout=10)
        assert during == {f"127.0.0.1:{echo_port}", f"localhost:{echo_port}"} - {busy_target}, (first, during)
        after = {host(fast.get(dp.url + "/anything")) for _ in range(4)}
        assert len(after) == 2  # both idle again: they take turns


def test_consistent_hashing_on_a_cookie_sets_one_for_a_new_client(dataplane: StartDP, echo_port: int) -> None:
    """Kong's hash_on: cookie: a client without the cookie gets a random one with the response, and every
    request that carries it reaches the same target."""
    doc = upstream_doc([f"127.0.0.1:{echo_port}", f"localhost:{echo_port}"], retries=0)
    doc["upstreams"][0].update(algorithm="consistent-hashing", hash_on="cookie", hash_on_cookie="affinity",
                               hash_on_cookie_path="/")
    dp = dataplane(doc)
    homes = set()
    for _ in range(20):
        with httpx.Client(timeout=10) as browser:
            first = browser.get(dp.url + "/anything")
            set_cookie = first.headers.get_list("set-cookie")
            assert len(set_cookie) == 1 and set_cookie[0].startswith("affinity=") and "; Path=/" in set_cookie[0]
            assert "affinity" in browser.cookies
            hosts = {browser.get(dp.url + "/anything").json()["headers"]["Host"] for _ in range(4)}
            assert hosts == {first.json()["headers"]["Host"]}
            assert "set-cookie" not in browser.get(dp.url + "/anything").headers  # (it has one now)
            homes |= hosts
    assert homes == {f"127.0.0.1:{echo_port}", f"localhost:{echo_port}"}  # (20 clients: both, but for 2**-19)


class _Slow(BaseHTTPRequestHandler):
    """An upstream that answers every GET 150 ms late (HTTP/1.0: one request per connection)."""

    def do_GET(self) -> None:  # (the http.server hook)
        time.sleep(0.15)
        body = b'{"slow": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # (quiet)
        pass


def test_latency_sends_requests_to_the_faster_target(dataplane: StartDP, echo_port: int) -> None:
    """Kong's latency algorithm: once both targets answered, the one 150 ms slower gets no more requests
    (its average decays towards 0 only over tens of seconds)."""
    with serving(_Slow) as slow_port:
        doc = upstream_doc([f"127.0.0.1:{slow_port}", f"127.0.0.1:{echo_port}"], retries=0)
        doc["upstreams"][0]["algorithm"] = "latency"
        dp = dataplane(doc)
        with httpx.Client(timeout=10) as client:
            answers = [client.get(dp.url + "/anything").json() for _ in range(20)]
    slow = sum(1 for answer in answers if answer.get("slow"))
    assert slow <= 2, slow  # (at most tried while nothing was known about it, then never again)
    assert all("url" in answer for answer in answers[2:])
