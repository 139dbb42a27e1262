"""What idle client connections cost one worker, and whether requests on other connections are still served.

`oidcgate dp --workers 1` (default settings, access log on) runs in front of the bench's nginx upstream
with one route. For each variant a fresh data plane is started (memory a variant frees stays with the
worker's allocator, so a second variant on the same worker would look free), warmed up with wrk (1 s),
loaded with wrk without idle connections (the reference requests/s), and its worker's RSS (VmRSS) read
once it is steady. Then this process opens N connections to it (default 10,000), paced so the listen
backlog never overflows (see tests.support.idle):
  - keep-alive: each sends one request and reads its 200 (a keep-alive connection that served a
    request), one at a time, so the upstream pool does not grow meanwhile;
  - silent: each connects and never sends a byte.
Once the worker holds all N (its sockets on the proxy port, from /proc), its RSS is read again:
(after - before) / N is the cost per connection. RSS is the process's memory; the kernel's socket
buffers are not in it. With the N connections still open, idle, wrk loads the route on 8 other
connections; then the N are checked still open (none closed by the proxy) and closed, the worker checked
alive and serving, and loaded once more without them: the load meanwhile is compared with the mean of
the runs before and after (the machine's speed drifts).

The data plane's client timeouts (`--keepalive-timeout`, `--client-header-timeout`, 60 s by default,
nginx's and Kong's) are raised to 600 s so that no connection expires while it is measured.

    python -m bench.idle_connections   # BENCH_IDLE_CONNECTIONS (default 10000), BENCH_IDLE_SECONDS (default 2)
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from typing import Any

import httpx
from tests.support.idle import accepted, alive, hold, open_fds, raise_fd_limit, rss
from tests.support.polling import wait_until

from bench.harness import Row, dataplane, nginx_upstream, wrk
from bench.run import BENCH_PATH, routes_doc

AIM = 16 * 1024  # bytes of RSS per idle connection (issue #13)
TIMEOUT_ARGS = ("--keepalive-timeout", "600", "--client-header-timeout", "600")
LOAD_CONNECTIONS = 8
OPEN_TIMEOUT = 180.0  # for all N to be open and accepted
REQUEST = f"GET {BENCH_PATH} HTTP/1.1\r\nHost: idle.bench\r\n\r\n".encode()
VARIANTS = (("keep-alive", REQUEST, "keep-alive, one request served each"),
            ("silent", None, "never sent a byte"))


def connections() -> int:
    return int(os.environ.get("BENCH_IDLE_CONNECTIONS", "10000"))


def load_seconds() -> int:
    return int(os.environ.get("BENCH_IDLE_SECONDS", "2"))


def worker_pid(port: int, timeout: float = 30.0) -> int:
    """The worker of the one-worker `oidcgate dp` whose --proxy-listen is 127.0.0.1:`port` (from /proc)."""
    listen = f"127.0.0.1:{port}"

    def find() -> int | None:
        commands, parents = {}, {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError):
                    with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                        commands[int(entry)] = cmdline.read().split(b"\0")
                    with open(f"/proc/{entry}/stat") as stat:
                        parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
        masters = {pid for pid, argv in commands.items() if b"dp" in argv and listen.encode() in argv}
        workers = [pid for pid, argv in commands.items()
                   if parents.get(pid) in masters and b"oidcgate.proxy.worker" in argv]
        return workers[0] if len(workers) == 1 else None

    found: list[int] = []

    def check() -> bool:
        pid = find()
        if pid is not None:
            found.append(pid)
        return pid is not None

    wait_until(check, timeout=timeout, interval=0.1, what=f"the worker of the data plane on {listen}")
    return found[0]


def steady_rss(pid: int, tolerance: int = 64 * 1024, timeout: float = 5.0) -> int:
    """The worker's RSS once two readings 0.25 s apart (a worker tick) agree within `tolerance`."""
    readings = [rss(pid)]

    def steady() -> bool:
        readings.append(rss(pid))
        return abs(readings[-1] - readings[-2]) <= tolerance

    with contextlib.suppress(AssertionError):  # still moving after `timeout`: take the last reading
        wait_until(steady, timeout=timeout, interval=0.25)
    return readings[-1]


@dataclass(frozen=True)
class Measured:
    variant: str
    title: str
    count: int
    open_seconds: float
    rss_before: int
    rss_after: int
    rss_closed: int
    still_open: int
    served: dict[int, int]  # the keep-alive variant's answers by status
    before_load: Row  # wrk before the connections were opened
    after_load: Row  # wrk after they were closed
    meanwhile: Row  # wrk while they were held
    alive: bool

    @property
    def without(self) -> float | None:
        """Requests/s without the idle connections: the mean of the runs before and after."""
        runs = [row.rps for row in (self.before_load, self.after_load) if row.rps]
        return sum(runs) / len(runs) if runs else None

    @property
    def per_connection(self) -> float:
        return (self.rss_after - self.rss_before) / self.count


def measure_variant(upstream: str, variant: str, request: bytes | None, title: str, count: int) -> Measured:
    seconds = load_seconds()
    with dataplane(routes_doc(upstream, 0), workers=1, extra_args=TIMEOUT_ARGS) as base:
        port = int(base.rsplit(":", 1)[1])
        url = base + BENCH_PATH
        pid = worker_pid(port)
        wrk(url, connections=LOAD_CONNECTIONS, seconds=1)  # warm-up
        before_load = wrk(url, connections=LOAD_CONNECTIONS, seconds=seconds, name="before")
        before = steady_rss(pid)
        fds = open_fds(pid)
        with hold(port, count, request, lambda: open_fds(pid) - fds, timeout=OPEN_TIMEOUT) as held:
            wait_until(lambda: accepted(pid, port) >= count, timeout=OPEN_TIMEOUT, interval=0.2,
                       what=f"the worker holding {count} connections")
            after = steady_rss(pid)
            meanwhile = wrk(url, connections=LOAD_CONNECTIONS, seconds=seconds,
                            name=f"oidcgate, 1 worker holding {count:,} idle connections ({title}): "
                                 f"wrk -c{LOAD_CONNECTIONS} on other connections")
            still_open = held.still_open()
            served = dict(held.statuses)
            opened = held.seconds
        wait_until(lambda: accepted(pid, port) <= LOAD_CONNECTIONS, timeout=30, interval=0.2,
                   what="the worker closing the idle connections")
        closed_rss = rss(pid)
        ok = alive(pid) and httpx.get(url, timeout=10).status_code == 200
        after_load = wrk(url, connections=LOAD_CONNECTIONS, seconds=seconds, name="after")
    return Measured(variant, title, count, opened, before, after, closed_rss, still_open, served, before_load,
                    after_load, meanwhile, ok)


def measure_all() -> list[Measured]:
    count = connections()
    raise_fd_limit(count + 1_000)  # (the data plane inherits the limit: its worker holds them too)
    with nginx_upstream() as upstream:
        return [measure_variant(upstream, variant, request, title, count) for variant, request, title in VARIANTS]


def _kb(value: float) -> str:
    return f"{value / 1024:,.1f} KB"


def _mib(value: int) -> str:
    return f"{value / 1048576:,.1f} MiB"


def note(m: Measured) -> str:
    verdict = "met" if m.per_connection < AIM else "NOT met"
    served = "" if m.variant == "silent" else (
        "; each had served one request: " + ", ".join(f"{n:,} x {s}" for s, n in sorted(m.served.items())))
    errors = m.meanwhile.note or "every response 2xx"
    ratio = f"{m.meanwhile.rps / m.without:.0%}" if m.meanwhile.rps and m.without else "-"
    return (f"RSS {_mib(m.rss_before)} -> {_mib(m.rss_after)}: {m.per_connection:,.0f} bytes "
            f"({_kb(m.per_connection)}) per connection (aim < 16 KB: {verdict}); {m.still_open:,} of "
            f"{m.count:,} still open after the load{served}; the load meanwhile: {errors}, {ratio} of its "
            f"{m.without or 0:,.0f} req/s without them (before {m.before_load.rps or 0:,.0f}, after "
            f"{m.after_load.rps or 0:,.0f}); "
            f"RSS {_mib(m.rss_closed)} once closed; worker {'alive and serving' if m.alive else 'NOT serving'}")


def measure() -> list[dict[str, Any]]:
    """The rows of `make bench` (bench.run): requests/s, p50 and p99 of the load while the connections idle."""
    return [{"name": m.meanwhile.name, "rps": m.meanwhile.rps, "p50_ms": m.meanwhile.p50_ms,
             "p99_ms": m.meanwhile.p99_ms, "note": note(m)} for m in measure_all()]


def table(results: list[Measured]) -> str:
    lines = ["| idle connections (1 worker) | RSS before | RSS after | per connection | still open | "
             "req/s meanwhile | req/s without (mean of before, after) | non-2xx meanwhile | worker after |",
             "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for m in results:
        lines.append(f"| {m.count:,} {m.title} | {_mib(m.rss_before)} | {_mib(m.rss_after)} | "
                     f"{_kb(m.per_connection)} | {m.still_open:,} | {m.meanwhile.rps or 0:,.0f} | "
                     f"{m.without or 0:,.0f} | {m.meanwhile.note or 'none'} | "
                     f"{'alive, 200' if m.alive else 'NOT serving'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    started = time.monotonic()
    results = measure_all()
    print(table(results))
    for m in results:
        print(f"- {m.title}: opened in {m.open_seconds:.1f} s; {note(m)}")
    print(f"({time.monotonic() - started:.0f} s)")
