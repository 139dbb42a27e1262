"""The benchmark harness: wrk output parsing, the results table and bar, and real nginx + wrk runs."""

from __future__ import annotations

import shutil
import socket
import urllib.request

import orjson
import pytest
from bench.harness import (
    UPSTREAM_BODY,
    Row,
    WrkOutputError,
    cpu_seconds,
    nginx_proxy,
    nginx_upstream,
    parse_wrk,
    wrk,
    wrk_command,
)
from bench.relay import relay
from bench.run import (
    Result,
    bar_report,
    cpu_note,
    cpu_per_request,
    median_ratio,
    render_table,
    routes_doc,
    summarize,
)

from oidcgate.config import load
from oidcgate.plugins.registry import config_schema

# Captured from wrk 4.1.0 on this machine: nginx proxy; echo /status/503; echo /delay/1.5 with --timeout 1s.
WRK_OUTPUT = """Running 2s test @ http://127.0.0.1:50311/
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   571.52us  636.81us   6.61ms   92.88%
    Req/Sec    34.33k     6.89k   50.16k    60.98%
  Latency Distribution
     50%  441.00us
     75%  522.00us
     90%  840.00us
     99%    3.84ms
  140058 requests in 2.10s, 26.31MB read
Requests/sec:  66629.43
Transfer/sec:     12.52MB
"""

WRK_NON_2XX = """Running 1s test @ http://127.0.0.1:19191/status/503
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   149.13us  418.03us   5.66ms   95.41%
    Req/Sec    56.90k     7.90k   67.02k    63.64%
  Latency Distribution
     50%   57.00us
     75%   75.00us
     90%  123.00us
     99%    2.48ms
  62192 requests in 1.10s, 6.82MB read
  Non-2xx or 3xx responses: 62192
Requests/sec:  56568.52
Transfer/sec:      6.20MB
"""

WRK_TIMEOUTS = """Running 3s test @ http://127.0.0.1:19191/delay/1.5
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.00us    0.00us   0.00us    -nan%
    Req/Sec     2.00      0.00     2.00    100.00%
  Latency Distribution
     50%    0.00us
     75%    0.00us
     90%    0.00us
     99%    0.00us
  8 requests in 3.01s, 3.41KB read
  Socket errors: connect 0, read 0, write 0, timeout 8
Requests/sec:      2.66
Transfer/sec:      1.14KB
"""


def test_parse_wrk_reads_requests_per_second_and_percentiles_in_ms() -> None:
    assert parse_wrk("nginx", WRK_OUTPUT) == Row("nginx", 66629.43, 0.441, 3.84, "")


def test_parse_wrk_reports_errors_in_the_note() -> None:
    assert parse_wrk("503", WRK_NON_2XX) == Row("503", 56568.52, 0.057, 2.48, "62192 non-2xx/3xx responses")
    assert parse_wrk("slow", WRK_TIMEOUTS).note == "socket errors: timeout 8"


def test_parse_wrk_units() -> None:
    seconds = WRK_OUTPUT.replace("441.00us", "1.50s").replace("3.84ms", "2.00m")
    assert (parse_wrk("x", seconds).p50_ms, parse_wrk("x", seconds).p99_ms) == (1500.0, 120000.0)


def test_parse_wrk_without_latency_distribution_is_an_error() -> None:
    without = "\n".join(line for line in WRK_OUTPUT.splitlines() if "%  " not in line or "Latency" in line)
    with pytest.raises(WrkOutputError, match="latency distribution"):
        parse_wrk("x", without)
    with pytest.raises(WrkOutputError):
        parse_wrk("x", "unable to connect to 127.0.0.1:1 Connection refused")


def test_wrk_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BENCH_WRK_CPUS", raising=False)
    monkeypatch.setenv("BENCH_SECONDS", "3")
    assert wrk_command("http://h/", headers={"Authorization": "Bearer t"}) == [
        "wrk", "--latency", "-t2", "-c32", "-d3s", "-H", "Authorization: Bearer t", "http://h/"]
    monkeypatch.setenv("BENCH_WRK_CPUS", "1")
    assert wrk_command("http://h/", seconds=7)[:4] == ["taskset", "-c", "1", "wrk"]


def test_table_ratios_are_to_nginx_within_rounds() -> None:
    rounds = [{"b": 1000.0, "c": 600.0}, {"b": 500.0, "c": 350.0}, {"b": 2000.0, "c": 1000.0}, {"c": 9.0}]
    assert median_ratio(rounds, "c", "b") == 0.6  # 60%, 70%, 50% in their rounds; a round without (b) left out
    assert median_ratio([{"c": 1.0}], "c", "b") is None
    results = [Result("b", 1, Row("(b) nginx", 1000.0, 0.5, 2.0), 1.0),
               Result("c", 1, Row("(c) oidcgate", 600.0, 0.8, 3.0), 0.6),
               Result("bench.oidc", None, Row("oidc bearer", None, None, None, "skipped: no provider"))]
    table = render_table(results).splitlines()
    assert table[3] == "| (c) oidcgate | 1 | 600 | 0.80 | 3.00 | 60% |  |"
    assert table[4] == "| oidc bearer | - | - | - | - | - | skipped: no provider |"


def test_bar_report() -> None:
    results = [Result("b", 1, Row("b", 1000.0, 0.5, 2.0), 1.0), Result("c", 1, Row("c", 720.0, 0.8, 3.5), 0.72),
               Result("d", 1, Row("d", 500.0, 0.9, 3.0), 0.5, 0.83),
               Result("eb", 1, Row("(e) bearer", 640.0, 0.9, 3.0), 0.64),
               Result("ec", 1, Row("(e) cc", 660.0, 0.9, 3.0), 0.66)]
    assert bar_report(results) == [
        "- (c) reaches 72% of nginx's requests/s (bar: >= 70%): met",
        "- (e) bearer reaches 64% of nginx's requests/s (bar: >= 65%): NOT met",
        "- (e) cc reaches 66% of nginx's requests/s (bar: >= 65%): met",
        "- (c) p99 3.50 ms vs nginx's 2.00 ms at 32 connections (bar: within 1 ms): NOT met",
        "- (d) 10,000 routes at 83% of (c) (bar: within 10%): NOT met"]
    assert "not evaluated" in bar_report(results[:2])[0]
    with_relay = bar_report([*results, Result("r", 1, Row("r", 960.0, 0.4, 2.0), 0.96)])
    assert with_relay[3] == "- for reference, the bare relay (r) reaches 96% of nginx's requests/s, and (c) 75% of the relay's"


def test_the_10000_routes_document_is_valid_config() -> None:
    snapshot = load(routes_doc("http://127.0.0.1:9", 10_000), config_schema)
    assert len(snapshot.routes) == 10_001
    assert snapshot.routes[-1].paths == ["/bench"]


@pytest.mark.e2e
@pytest.mark.skipif(not (shutil.which("nginx") and shutil.which("wrk")), reason="run `make bench-deps`")
def test_nginx_upstream_and_proxy_under_wrk() -> None:
    with nginx_upstream() as upstream, nginx_proxy(upstream, workers=1) as proxy:
        with urllib.request.urlopen(proxy + "/any/path", timeout=5) as response:
            assert response.headers["Content-Type"] == "application/json"
            assert orjson.loads(response.read()) == orjson.loads(UPSTREAM_BODY)
        before = cpu_seconds(proxy)
        row = wrk(proxy + "/", connections=4, threads=1, seconds=1, name="nginx proxy")
        after = cpu_seconds(proxy)
        assert cpu_seconds("http://127.0.0.1:9/") is None  # no child of ours listens there
    assert before is not None and after is not None
    assert after[0] + after[1] > before[0] + before[1]  # its worker served the run: it used CPU meanwhile
    assert cpu_seconds(proxy) is None  # stopped: forgotten
    assert row.name == "nginx proxy"
    assert row.rps is not None and row.rps > 100
    assert row.note == ""


@pytest.mark.e2e
@pytest.mark.skipif(not (shutil.which("nginx") and shutil.which("wrk")), reason="run `make bench-deps`")
def test_the_reference_relay_answers_every_request_of_a_keep_alive_connection_in_order() -> None:
    with nginx_upstream() as upstream, relay(upstream) as base, socket.create_connection(
            ("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=5) as conn:
        conn.sendall(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n" * 3)  # pipelined, before the upstream connects
        answers = b""
        for _ in range(50):  # (bounded: three small responses)
            if answers.count(UPSTREAM_BODY.encode()) == 3:
                break
            answers += conn.recv(65536)
        assert answers.count(b"HTTP/1.1 200 OK") == 3 and answers.count(UPSTREAM_BODY.encode()) == 3
        row = wrk(base + "/", connections=4, threads=1, seconds=1, name="relay")
    assert row.rps is not None and row.rps > 100 and row.note == ""


def test_cpu_per_request_is_the_servers_cpu_over_the_requests_of_the_run() -> None:
    row = Row("c", 2000.0, 0.5, 1.0)  # 2,000 requests/s for 4 s: 8,000 requests
    assert cpu_per_request((1.0, 2.0), (1.08, 2.04), row, 4) == pytest.approx((10.0, 5.0))  # µs
    assert cpu_per_request(None, (1.0, 1.0), row, 4) is None
    assert cpu_per_request((1.0, 1.0), (2.0, 2.0), Row("c", None, None, None, "failed"), 4) is None
    assert cpu_note([(13.0, 11.0), (14.0, 12.0), (20.0, 9.0)]) == "CPU per request 14.0 µs user + 11.0 µs kernel"


def test_summarize_takes_the_median_run_and_notes_the_spread_and_errors() -> None:
    runs = [Row("c", 300.0, 1.0, 9.0), Row("c", 100.0, 3.0, 20.0, "5 non-2xx/3xx responses"), Row("c", 200.0, 2.0, 4.0)]
    assert summarize("(c)", runs, []) == Row("(c)", 200.0, 2.0, 4.0, "median of 3 runs (100 to 300); 5 non-2xx/3xx responses")
    assert summarize("(c)", runs[:1], ["WrkOutputError: boom"]) == Row("(c)", 300.0, 1.0, 9.0, "1 run(s) failed: WrkOutputError: boom")
    assert summarize("(c)", [], ["RuntimeError: oidcgate dp did not start"]) == Row(
        "(c)", None, None, None, "failed: RuntimeError: oidcgate dp did not start")
