"""Benchmark building blocks that every part's bench module reuses.

- `nginx_upstream()`: a tiny nginx answering every request with a fixed small JSON body, so the
  upstream is never what is measured;
- `nginx_proxy(upstream, workers)`: nginx as a keep-alive reverse proxy to it (the reference);
- `dataplane(doc, workers)`: `oidcgate dp` with that declarative config;
- `wrk(url, ...) -> Row`: one wrk run with `--latency`, parsed into requests/s, p50 and p99;
- `cpu_seconds(url)`: the user and kernel CPU time so far of the server behind `url` (all its processes),
  so that a run's CPU per request can be told apart: the kernel's share from the proxy's own work.

Every server runs as a child process in its own process group (nginx with `daemon off`) with its
files in a temporary directory under bench/.run/, and is stopped (SIGTERM, then SIGKILL) on exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.support.processes import free_port, wait_for_port

RUN_DIR = Path(__file__).resolve().parent / ".run"
UPSTREAM_BODY = '{"message":"hello from the bench upstream"}'
DEFAULT_SECONDS = 10
START_TIMEOUT = 120.0  # a data plane compiling 10,000 routes on a busy machine needs a while


@dataclass(frozen=True)
class Row:
    """One measured line of the results table. Without a measurement (rps None), `note` says why."""

    name: str
    rps: float | None
    p50_ms: float | None
    p99_ms: float | None
    note: str = ""


def bench_seconds() -> int:
    """wrk's duration per run: BENCH_SECONDS (for a quick run) or 10."""
    return int(os.environ.get("BENCH_SECONDS", DEFAULT_SECONDS))


# -- wrk ------------------------------------------------------------------------------------------

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_PERCENTILE_RE = re.compile(r"^\s*(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_RPS_RE = re.compile(r"^Requests/sec:\s+([\d.]+)\s*$", re.MULTILINE)
_NON_2XX_RE = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS_RE = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


class WrkOutputError(ValueError):
    """wrk's output lacked what we measure (it failed, or ran without --latency)."""


def parse_wrk(name: str, output: str) -> Row:
    """Requests/s and the 50th/99th latency percentiles from `wrk --latency` output.

    Errors (non-2xx responses, socket errors) go into the note: such a run measured something else.
    """
    rps = _RPS_RE.search(output)
    percentiles = {int(p): float(value) * _UNITS_MS[unit] for p, value, unit in _PERCENTILE_RE.findall(output)}
    if rps is None or 50 not in percentiles or 99 not in percentiles:
        raise WrkOutputError(f"no requests/s or latency distribution in wrk output: {output.strip()[-300:]!r}")
    notes = []
    non_2xx = _NON_2XX_RE.search(output)
    if non_2xx:
        notes.append(f"{non_2xx.group(1)} non-2xx/3xx responses")
    socket_errors = _SOCKET_ERRORS_RE.search(output)
    if socket_errors:
        kinds = ("connect", "read", "write", "timeout")
        notes.append("socket errors: " + ", ".join(f"{k} {n}" for k, n in zip(kinds, socket_errors.groups(),
                                                                               strict=True) if n != "0"))
    return Row(name, float(rps.group(1)), round(percentiles[50], 3), round(percentiles[99], 3), "; ".join(notes))


def wrk_command(url: str, connections: int = 32, threads: int = 2, seconds: int | None = None,
                headers: Mapping[str, str] | None = None) -> list[str]:
    """The wrk command line; BENCH_WRK_CPUS (e.g. "1") pins wrk to those CPUs with taskset."""
    command = ["wrk", "--latency", f"-t{threads}", f"-c{connections}", f"-d{seconds or bench_seconds()}s"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    cpus = os.environ.get("BENCH_WRK_CPUS")
    return (["taskset", "-c", cpus] if cpus else []) + [*command, url]


def wrk(url: str, connections: int = 32, threads: int = 2, seconds: int | None = None,
        headers: Mapping[str, str] | None = None, name: str | None = None) -> Row:
    """Load `url` with wrk and return the parsed row (named `name`, or the URL)."""
    command = wrk_command(url, connections, threads, seconds, headers)
    duration = seconds or bench_seconds()
    result = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=False)
    if result.returncode != 0:
        raise WrkOutputError(f"wrk exited with {result.returncode}: {(result.stderr or result.stdout)[-300:]}")
    return parse_wrk(name or url, result.stdout)


# -- child processes ------------------------------------------------------------------------------

_GROUPS: dict[int, int] = {}  # a listening port -> the process group of the child serving it (see child)
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(url: str) -> tuple[float, float] | None:
    """(user, kernel) CPU seconds used so far by every process of the server behind `url` (a child of
    ours: its process group, e.g. nginx's or oidcgate's master and workers); None for another URL."""
    group = _GROUPS.get(urlsplit(url).port or 0)
    if group is None:
        return None
    user = kernel = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()  # (after the command name)
        except (OSError, IndexError):
            continue  # (a process that just ended)
        if int(fields[2]) == group:  # pgrp; then utime and stime, in clock ticks (proc(5): fields 5, 14, 15)
            user += int(fields[11])
            kernel += int(fields[12])
    return user / _TICKS, kernel / _TICKS


@contextlib.contextmanager
def work_dir(prefix: str) -> Iterator[Path]:
    """A fresh directory under bench/.run/ (git-ignored), removed afterwards unless BENCH_KEEP is set."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=RUN_DIR))
    try:
        yield path
    finally:
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def child(label: str, command: Sequence[str], log_path: Path, port: int,
          timeout: float = START_TIMEOUT) -> Iterator[None]:
    """Run a server in its own process group until the block ends; fail with its log if it does not listen."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        try:
            wait_for_port(port, timeout=timeout, proc=proc)
        except (RuntimeError, TimeoutError) as exc:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{label} did not start: {exc}\n{tail}") from None
        _GROUPS[port] = proc.pid  # (start_new_session: the group's id is the child's pid)
        yield
    finally:
        _GROUPS.pop(port, None)
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)


# -- nginx ----------------------------------------------------------------------------------------

def nginx_config(work: Path, workers: int, server: str) -> str:
    """A self-contained nginx.conf: every path inside `work`, no access log, long keep-alive."""
    temp_paths = "\n".join(f"    {kind}_temp_path {work / kind};"
                           for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""worker_processes {workers};
daemon off;
pid {work / "nginx.pid"};
error_log {work / "error.log"} warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
{temp_paths}
{server}
}}
"""


@contextlib.contextmanager
def _nginx(name: str, workers: int, server: str) -> Iterator[str]:
    port = free_port()
    with work_dir(name) as work:
        config = work / "nginx.conf"
        config.write_text(nginx_config(work, workers, server.replace("{port}", str(port))))
        command = ["nginx", "-p", str(work), "-e", str(work / "error.log"), "-c", str(config)]
        with child(f"nginx ({name})", command, work / "nginx.out", port):
            yield f"http://127.0.0.1:{port}"


def nginx_upstream(workers: int = 1) -> contextlib.AbstractContextManager[str]:
    """The tiny upstream: every request gets 200 and a small fixed JSON body. Yields its base URL."""
    body = UPSTREAM_BODY.replace("'", "\\'")
    return _nginx("upstream", workers, f"""
    server {{
        listen 127.0.0.1:{{port}} reuseport;
        location / {{ default_type application/json; return 200 '{body}'; }}
    }}""")


def nginx_proxy(upstream: str, workers: int = 1) -> contextlib.AbstractContextManager[str]:
    """nginx as a reverse proxy to `upstream` with pooled keep-alive connections. Yields its base URL."""
    return _nginx("nginx-proxy", workers, _proxy_server(upstream))


def _proxy_server(upstream: str, tls: str = "") -> str:
    """nginx's reverse proxy to `upstream` over pooled keep-alive connections; `tls`: the listener's TLS
    directives (it then listens with `ssl`)."""
    return f"""
    upstream backend {{
        server {upstream.removeprefix("http://")};
        keepalive 64;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{{port}}{" ssl" if tls else ""} reuseport;{tls}
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}"""


def tls_pair() -> tuple[Path, Path]:
    """The certificate both TLS rows present (self-signed, EC), made once under bench/.run/."""
    from oidcgate.cluster import certs

    cert, key = RUN_DIR / "tls" / "bench.crt", RUN_DIR / "tls" / "bench.key"
    if not (cert.is_file() and key.is_file()):
        certs.generate(cert, key, force=True, common_name="localhost")
    return cert, key


@contextlib.contextmanager
def nginx_tls_proxy(upstream: str, workers: int = 1) -> Iterator[str]:
    """nginx terminating TLS (TLS 1.2/1.3, keep-alive) in front of `upstream`. Yields its https:// base URL."""
    cert, key = tls_pair()
    with _nginx("nginx-tls", workers, _proxy_server(upstream, f"""
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;""")) as url:
        yield url.replace("http://", "https://")


# -- oidcgate -------------------------------------------------------------------------------------

@contextlib.contextmanager
def dataplane(doc: dict[str, Any], workers: int = 1, extra_args: Sequence[str] = (),
              tls: bool = False) -> Iterator[str]:
    """`oidcgate dp --workers N` with `doc` as its declarative config and default settings: the access
    log on (to a file in its work directory, not a terminal); Kong's metrics only where `doc` has the
    prometheus plugin. Yields the proxy's base URL. With `tls`, the proxy listens with `ssl` only,
    presenting the certificate nginx's TLS row uses."""
    port, status_port = free_port(), free_port()
    if tls:
        cert, key = tls_pair()
        extra_args = (*extra_args, "--proxy-listen", f"127.0.0.1:{port} ssl", "--ssl-cert", str(cert),
                      "--ssl-cert-key", str(key))
    with work_dir("dataplane") as work:
        config = work / "kong.json"
        config.write_text(json.dumps(doc))
        command = [sys.executable, "-m", "oidcgate.cli", "dp", "--config", str(config),
                   "--proxy-listen", f"127.0.0.1:{port}", "--status-listen", f"127.0.0.1:{status_port}",
                   "--workers", str(workers), "--prefix", str(work / "prefix"),
                   "--access-log", str(work / "access.log"), *extra_args]
        with child("oidcgate dp", command, work / "dp.log", port):
            yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
