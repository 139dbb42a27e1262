"""Idle keep-alive client connections are cheap and do not stall a worker (issue #13, the CI-sized check;
`python -m bench.idle_connections` measures 10,000).

One worker, default settings. 2,000 connections each send one request, read its 200 and stay open,
idle. The worker's RSS (VmRSS) grows by less than 16 KB per connection: measured about 3 KB, so the
bound is 32 MB against an expected 6 MB, far above allocator noise, yet a 40 KB connection (80 MB)
fails it. Meanwhile a request on a new connection is answered within a bound, and the proxy closes
none of the 2,000 (its keep-alive timeout is 60 s; the test takes seconds).
"""

from __future__ import annotations

import socket
import subprocess
import time

from oidcgate.proxy.server import LISTEN_BACKLOG
from tests.proxy.conftest import StartDP
from tests.proxy.helpers import service
from tests.support.idle import accepted, alive, hold, open_fds, raise_fd_limit, read_response, rss
from tests.support.polling import wait_until

CONNECTIONS = 2_000
AIM = 16 * 1024  # bytes of RSS per idle connection
ANSWER_WITHIN = 5.0  # seconds for a request on a new connection while the idle ones are held
REQUEST = b"GET /anything/idle HTTP/1.1\r\nHost: idle.test\r\n\r\n"


def one_request(port: int) -> tuple[int, float]:
    """(status, seconds) of one request on a new connection."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_WITHIN) as sock:
        sock.sendall(REQUEST)
        status = read_response(sock)
    return status, time.monotonic() - started


def test_idle_keepalive_connections_cost_little_and_requests_are_still_served(
        dataplane: StartDP, echo_port: int) -> None:
    raise_fd_limit(CONNECTIONS + 1_000)  # before the data plane starts: its worker inherits the limit
    dp = dataplane(service(echo_port))
    pid = int(dp.status()["workers"][0]["pid"])
    for _ in range(20):  # warm up: first requests fill the route's and the upstream pool's caches
        assert one_request(dp.port)[0] == 200
    before = rss(pid)
    fds = open_fds(pid)

    with hold(dp.port, CONNECTIONS, REQUEST, lambda: open_fds(pid) - fds, timeout=60) as held:
        assert held.statuses == {200: CONNECTIONS}
        wait_until(lambda: accepted(pid, dp.port) >= CONNECTIONS, timeout=30, interval=0.05,
                   what=f"the worker holding {CONNECTIONS} connections")
        after = rss(pid)

        status, seconds = one_request(dp.port)
        assert status == 200 and seconds < ANSWER_WITHIN
        assert held.still_open() == CONNECTIONS  # the proxy closed none of them

    per_connection = (after - before) / CONNECTIONS
    assert per_connection < AIM, f"{per_connection:,.0f} bytes of RSS per idle connection ({before:,} -> {after:,})"
    wait_until(lambda: accepted(pid, dp.port) == 0, timeout=30, interval=0.05,
               what="the worker closing the connections")
    assert alive(pid) and one_request(dp.port)[0] == 200


def test_the_proxy_listens_with_a_backlog_of_4096(dataplane: StartDP, echo_port: int) -> None:
    """A burst of new connections queues in the kernel instead of being dropped: asyncio would listen
    again with its own backlog of 100 unless told (`ss` shows a listener's backlog as its Send-Q)."""
    dp = dataplane(service(echo_port))
    listing = subprocess.run(["ss", "-Hltn", f"sport = :{dp.port}"], capture_output=True, text=True, check=True)
    backlogs = {int(line.split()[2]) for line in listing.stdout.splitlines()}
    assert backlogs == {min(LISTEN_BACKLOG, somaxconn())}


def somaxconn() -> int:
    with open("/proc/sys/net/core/somaxconn") as limit:
        return int(limit.read())
