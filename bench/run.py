"""`make bench`: nginx vs oidcgate on the same machine, same wrk settings, same tiny upstream.

Scenarios, each run with 1 proxy worker and then 2 (nginx `worker_processes N`, `oidcgate dp
--workers N`, oidcgate with its default settings):
  (a) the upstream directly; (b) nginx as a keep-alive reverse proxy; (r) the smallest relay on
  uvloop + httptools, no routing and no plugins (bench.relay: what Python itself reaches on this
  machine, issue 13's reference); (c) oidcgate with one route and no plugins; (d) oidcgate with 10
  and with 10,000 prefix routes (/r0 ... /r9999), the measured route `/bench` listed last.
Scenarios are measured in interleaved rounds (default 3) and each row is the median run, because
the machine is shared: one quiet minute must not decide a ratio.
Then the rows of `bench.idp_tokens`, `bench.oidc`, `bench.access_control`, `bench.observability`,
`bench.cp_push` and `bench.idle_connections` where those modules exist.
Each row's note gives the server's CPU time per request (user and kernel, medians over its runs, from
/proc: every process of its group), which tells the kernel's share of a request from the proxy's own.
Prints the table and writes it to bench/results.md with the date, the machine and the command.

wrk is not pinned to a CPU by default: on a 2-core machine pinning wrk to one core leaves the proxy
and the upstream fighting for the other, which penalises whichever spends relatively more time in
the upstream (nginx). Unpinned, every scenario sees the same scheduler. BENCH_WRK_CPUS pins wrk.
Environment: BENCH_SECONDS (default 10), BENCH_ROUNDS (default 3), BENCH_WORKERS (default "1,2"),
BENCH_WRK_CPUS, BENCH_KEEP.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib
import os
import platform
import shutil
import statistics
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench import oidc
from bench.harness import (
    Row,
    bench_seconds,
    cpu_seconds,
    dataplane,
    nginx_proxy,
    nginx_tls_proxy,
    nginx_upstream,
    wrk,
    wrk_command,
)
from bench.relay import relay
from oidcgate.plugins.openid_connect.client_auth import basic_authorization

RESULTS = Path(__file__).resolve().parent / "results.md"
INSTRUCTIONS = RESULTS.with_name("instructions.md")  # `python -m bench.instructions`: before/after, per stage
EXTRA_MODULES = ("bench.idp_tokens", "bench.oidc", "bench.access_control", "bench.observability", "bench.cp_push",
                 "bench.idle_connections")
WARMUP_SECONDS = 1
DEFAULT_ROUNDS = 3
BENCH_PATH = "/bench"


def routes_doc(upstream: str, other_routes: int) -> dict[str, Any]:
    """One service to the upstream; `other_routes` prefix routes /r0.. plus the measured /bench, last."""
    routes = [{"name": f"r{i}", "paths": [f"/r{i}"]} for i in range(other_routes)]
    routes.append({"name": "bench", "paths": [BENCH_PATH]})
    return {"_format_version": "3.0", "services": [{"name": "bench", "url": upstream, "routes": routes}]}


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    serve: Callable[[str, int], contextlib.AbstractContextManager[str]]  # (upstream, workers) -> base URL
    path: str = "/"
    headers: Mapping[str, str] = field(default_factory=dict)  # sent with every request of the scenario


@dataclass(frozen=True)
class Credentials:
    """What the (e) scenarios need: the identity provider's issuer and the two rows' Authorization headers."""

    issuer: str
    bearer: str
    basic: str


def scenarios(credentials: Credentials) -> tuple[Scenario, ...]:
    """Every scenario, the openid-connect ones (e) against `credentials`' identity provider."""
    def with_oidc(upstream: str, workers: int) -> contextlib.AbstractContextManager[str]:
        return dataplane(oidc.gateway_doc(upstream, credentials.issuer), workers)

    return (
        Scenario("a", "(a) upstream direct (nginx, 1 worker)", lambda up, _workers: contextlib.nullcontext(up)),
        Scenario("b", "(b) nginx reverse proxy", nginx_proxy),
        Scenario("r", "(r) the floor of Python: a bare uvloop + httptools relay (bench.relay)", relay, BENCH_PATH),
        Scenario("c", "(c) oidcgate, no plugins, 1 route", lambda up, w: dataplane(routes_doc(up, 0), w), BENCH_PATH),
        Scenario("d10", "(d) oidcgate, 10 routes", lambda up, w: dataplane(routes_doc(up, 10), w), BENCH_PATH),
        Scenario("d", "(d) oidcgate, 10,000 routes", lambda up, w: dataplane(routes_doc(up, 10_000), w), BENCH_PATH),
        Scenario("eb", "(e) oidcgate + openid-connect, bearer JWT (RS256, cached)", with_oidc, "/bearer",
                 {"Authorization": credentials.bearer}),
        Scenario("ec", "(e) oidcgate + openid-connect, client credentials (cached token)", with_oidc, "/cc",
                 {"Authorization": credentials.basic}),
        Scenario("bs", "(b-tls) nginx terminating TLS", nginx_tls_proxy),
        Scenario("cs", "(c-tls) oidcgate terminating TLS, 1 route",
                 lambda up, w: dataplane(routes_doc(up, 0), w, tls=True), BENCH_PATH),
    )


@dataclass(frozen=True)
class Result:
    key: str
    workers: int | None  # None for rows of the other parts' bench modules
    row: Row
    vs_nginx: float | None = None  # median over rounds of this run's requests/s over (b)'s in the round
    vs_c: float | None = None  # the same, over (c)'s
    vs_nginx_tls: float | None = None  # the same, over (b-tls)'s (the HTTPS rows)


def start_all(stack: contextlib.ExitStack, upstream: str, workers: int, every: tuple[Scenario, ...],
              ) -> dict[str, str | Exception]:
    """Start every scenario's server (they idle while another is measured) and warm each up once.

    Returns the URL to load per scenario key, or the exception that prevented it.
    """
    targets: dict[str, str | Exception] = {}
    for scenario in every:
        try:
            url = stack.enter_context(scenario.serve(upstream, workers)) + scenario.path
            wrk(url, seconds=WARMUP_SECONDS, headers=scenario.headers)
            targets[scenario.key] = url
        except Exception as exc:
            targets[scenario.key] = exc
    return targets


def summarize(title: str, rows: list[Row], failures: list[str]) -> Row:
    """The median run by requests/s, noting the spread; or the failure when no run succeeded."""
    if not rows:
        return Row(title, None, None, None, f"failed: {failures[0] if failures else 'not measured'}")
    ranked = sorted(rows, key=lambda row: row.rps or 0.0)
    median = ranked[len(ranked) // 2]
    notes = []
    if len(rows) > 1:
        notes.append(f"median of {len(rows)} runs ({_fmt(ranked[0].rps, 0)} to {_fmt(ranked[-1].rps, 0)})")
    notes += {row.note for row in rows if row.note}  # wrk errors (non-2xx, socket errors) of any run
    if failures:
        notes.append(f"{len(failures)} run(s) failed: {failures[0]}")
    return Row(title, median.rps, median.p50_ms, median.p99_ms, "; ".join(notes))


def measure_all(upstream: str, workers: int, rounds: int, every: tuple[Scenario, ...]) -> list[Result]:
    """Every scenario at one worker count, in interleaved rounds (a, b, c, d.. then again), so that
    noise from other work on the machine spreads over all scenarios instead of hitting one. Ratios are
    taken within a round (the machine's speed drifts between rounds) and their median reported."""
    runs: dict[str, list[Row]] = {s.key: [] for s in every}
    cpu: dict[str, list[tuple[float, float]]] = {s.key: [] for s in every}
    failures: dict[str, list[str]] = {s.key: [] for s in every}
    in_round: list[dict[str, float]] = []
    with contextlib.ExitStack() as stack:
        targets = start_all(stack, upstream, workers, every)
        for _ in range(rounds):
            this_round: dict[str, float] = {}
            in_round.append(this_round)
            for scenario in every:
                target = targets[scenario.key]
                if isinstance(target, Exception):
                    continue
                try:
                    before = cpu_seconds(target)
                    row = wrk(target, name=scenario.title, headers=scenario.headers)
                    used = cpu_per_request(before, cpu_seconds(target), row, bench_seconds())
                    if used is not None:
                        cpu[scenario.key].append(used)
                    runs[scenario.key].append(row)
                    if row.rps:
                        this_round[scenario.key] = row.rps
                except Exception as exc:
                    failures[scenario.key].append(_one_line(exc))
    results = []
    for scenario in every:
        target = targets[scenario.key]
        if isinstance(target, Exception):
            failures[scenario.key].append(_one_line(target))
        row = summarize(scenario.title, runs[scenario.key], failures[scenario.key])
        if cpu[scenario.key]:
            row = replace(row, note="; ".join(filter(None, [cpu_note(cpu[scenario.key]), row.note])))
        print(f"  {row.name} x{workers}: {_fmt(row.rps, 0)} req/s, p50 {_fmt(row.p50_ms, 2)} ms, "
              f"p99 {_fmt(row.p99_ms, 2)} ms {row.note}", flush=True)
        results.append(Result(scenario.key, workers, row, median_ratio(in_round, scenario.key, "b"),
                              median_ratio(in_round, scenario.key, "c"),
                              median_ratio(in_round, scenario.key, "bs")))
    return results


def cpu_per_request(before: tuple[float, float] | None, after: tuple[float, float] | None, row: Row,
                    seconds: int) -> tuple[float, float] | None:
    """The server's (user, kernel) CPU microseconds per request over one wrk run of `seconds`."""
    if before is None or after is None or not row.rps:
        return None
    served = row.rps * seconds
    return (after[0] - before[0]) / served * 1e6, (after[1] - before[1]) / served * 1e6


def cpu_note(samples: list[tuple[float, float]]) -> str:
    user = statistics.median(used for used, _ in samples)
    kernel = statistics.median(used for _, used in samples)
    return f"CPU per request {user:.1f} µs user + {kernel:.1f} µs kernel"


def median_ratio(rounds: list[dict[str, float]], key: str, reference: str) -> float | None:
    ratios = [r[key] / r[reference] for r in rounds if key in r and r.get(reference)]
    return statistics.median(ratios) if ratios else None


def extra_rows() -> tuple[list[Result], list[str]]:
    """Rows of the other parts' bench modules; absent modules are listed, failing ones become notes."""
    results, absent = [], []
    for name in EXTRA_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                absent.append(name)
                continue
            results.append(Result(name, None, Row(name, None, None, None, f"failed: {_one_line(exc)}")))
            continue
        try:
            rows = module.measure()
            results.extend(Result(name, None, _row(item)) for item in rows)
        except Exception as exc:
            traceback.print_exc()
            results.append(Result(name, None, Row(name, None, None, None, f"failed: {_one_line(exc)}")))
    return results, absent


def _row(item: dict[str, Any]) -> Row:
    return Row(str(item["name"]), item.get("rps"), item.get("p50_ms"), item.get("p99_ms"), str(item.get("note", "")))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def render_table(results: list[Result]) -> str:
    """The markdown table: requests/s, p50, p99 and the ratio to (b) at the same worker count."""
    lines = ["| scenario | workers | requests/s | p50 ms | p99 ms | vs (b) | note |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for result in results:
        row = result.row
        ratio = "-" if result.vs_nginx is None else f"{result.vs_nginx:.0%}"
        workers = "-" if result.workers is None else str(result.workers)
        lines.append(f"| {row.name} | {workers} | {_fmt(row.rps, 0)} | {_fmt(row.p50_ms, 2)} | "
                     f"{_fmt(row.p99_ms, 2)} | {ratio} | {row.note} |")
    return "\n".join(lines)


def bar_report(results: list[Result]) -> list[str]:
    """The bars at one worker: issue 13's ((c) >= 70% of (b), the (e) rows >= 65% of (b), (c)'s p99 within
    1 ms of (b)'s), and issue 2's that still hold ((d) within 10% of (c)); HTTPS against nginx's."""
    one = {r.key: r for r in results if r.workers == 1}
    b, c, d = one.get("b"), one.get("c"), one.get("d")
    if not (b and c and d and c.vs_nginx and d.vs_c and c.row.p99_ms is not None and b.row.p99_ms is not None):
        return ["- bar not evaluated: a one-worker row of (b), (c) or (d) is missing"]

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    lines = [f"- (c) reaches {c.vs_nginx:.0%} of nginx's requests/s (bar: >= 70%): {verdict(c.vs_nginx >= 0.7)}"]
    for key in ("eb", "ec"):
        row = one.get(key)
        if row is not None and row.vs_nginx is not None:
            lines.append(f"- {row.row.name} reaches {row.vs_nginx:.0%} of nginx's requests/s (bar: >= 65%): "
                         f"{verdict(row.vs_nginx >= 0.65)}")
    floor = one.get("r")
    if floor is not None and floor.vs_nginx is not None:
        lines.append(f"- for reference, the bare relay (r) reaches {floor.vs_nginx:.0%} of nginx's requests/s, and (c) "
                     f"{c.vs_nginx / floor.vs_nginx:.0%} of the relay's")
    late = c.row.p99_ms - b.row.p99_ms
    lines.append(f"- (c) p99 {c.row.p99_ms:.2f} ms vs nginx's {b.row.p99_ms:.2f} ms at 32 connections "
                 f"(bar: within 1 ms): {verdict(late <= 1.0)}")
    lines.append(f"- (d) 10,000 routes at {d.vs_c:.0%} of (c) (bar: within 10%): {verdict(d.vs_c >= 0.9)}")
    https = one.get("cs")
    if https and https.vs_nginx_tls:
        lines.append(f"- HTTPS: (c-tls) reaches {https.vs_nginx_tls:.0%} of nginx terminating TLS with the same "
                     "certificate (keep-alive, 1 worker)")
    return lines


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs (nproc), {model}, Linux {platform.release()}; load average at start {load}"


def http_parser() -> str:
    """Which httptools build serves (the Makefile rebuilds it for SSE4.2 where the CPU has it)."""
    marker = Path(sys.prefix) / ".llhttp-build"
    return marker.read_text().strip() if marker.exists() else "httptools as pip installed it (no `make install`)"


def command_line() -> str:
    settings = " ".join(f"{k}={os.environ[k]}" for k in ("BENCH_SECONDS", "BENCH_ROUNDS", "BENCH_WORKERS",
                                                          "BENCH_WRK_CPUS") if k in os.environ)
    return f"{settings + ' ' if settings else ''}.venv/bin/python -m bench.run"


def write_results(results: list[Result], absent: list[str], header: list[str]) -> str:
    text = "\n".join([
        "# Benchmark results", "", *header, "", render_table(results), "",
        "Bars (one worker each, ratios within a round):", *bar_report(results), "",
        *([f"Bench modules not present: {', '.join(absent)}.", ""] if absent else []),
        "Ratios compare requests/s with (b) at the same worker count, run by run within a round, and give the "
        "median over rounds (the machine's speed drifts between rounds). The upstream is one nginx worker "
        "returning a fixed JSON body; nginx and oidcgate proxy to it over pooled keep-alive connections. "
        "oidcgate runs with its defaults (access log to a file, every request counted; Kong's metrics are the "
        "prometheus plugin's, see bench.observability) and adds X-Forwarded-* and "
        "Via headers, which nginx is not configured to do. wrk, the upstream and the proxy share the "
        "machine, unpinned; other work on the machine adds noise, so compare rows of one run.", "",
        *instruction_tables()])
    RESULTS.write_text(text)
    return text


def instruction_tables() -> list[str]:
    """bench/instructions.md (deterministic, unlike requests/s), its headings one level down."""
    if not INSTRUCTIONS.exists():
        return []
    return ["#" + line if line.startswith("#") else line for line in INSTRUCTIONS.read_text().splitlines()]


def main() -> int:
    missing = [tool for tool in ("wrk", "nginx") if shutil.which(tool) is None]
    if missing:
        print(f"bench: {', '.join(missing)} not found; run `make bench-deps`", file=sys.stderr)
        return 1
    worker_counts = [int(n) for n in os.environ.get("BENCH_WORKERS", "1,2").split(",")]
    rounds = int(os.environ.get("BENCH_ROUNDS", DEFAULT_ROUNDS))
    header = [f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}",
              f"- machine: {machine()}",
              f"- HTTP parser: {http_parser()}",
              f"- command: `{command_line()}` (what `make bench` runs)",
              f"- load generator: `{' '.join(wrk_command('URL', seconds=bench_seconds()))}` per run; each row is "
              f"the median of {rounds} interleaved runs, after a {WARMUP_SECONDS} s warm-up"]
    results: list[Result] = []
    with oidc.identity_provider() as (issuer, client_id, secret), nginx_upstream() as upstream:
        token = oidc.client_credentials_token(issuer, client_id, secret)
        every = scenarios(Credentials(issuer, f"Bearer {token}", basic_authorization(client_id, secret)))
        for workers in worker_counts:
            results += measure_all(upstream, workers, rounds, every)
    others, absent = extra_rows()
    results.extend(others)
    print(write_results(results, absent, header))
    return 0


if __name__ == "__main__":
    sys.exit(main())
