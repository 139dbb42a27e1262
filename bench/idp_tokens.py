"""Client-credentials tokens issued per second by `oidcgate idp`.

Starts the provider on a free loopback port with a fresh SQLite database (default argon2 cost: the
verification cache is what keeps repeated authentications cheap), registers one client through the
admin API, then keeps CONCURRENCY keep-alive httpx clients posting token requests for `seconds`.
Every request must succeed and every worker stops at the deadline or after MAX_REQUESTS_PER_CLIENT.

    python -m bench.idp_tokens            # BENCH_IDP_SECONDS overrides the default 5 s
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import sys
import time
from typing import Any

import httpx
from tests.support.processes import free_port

from bench.harness import child, work_dir

NAME = "idp: client_credentials tokens issued"
CONCURRENCY = 16
MAX_REQUESTS_PER_CLIENT = 200_000
WARMUP_SECONDS = 1.0


async def _worker(url: str, auth: tuple[str, str], deadline: float, latencies: list[float]) -> None:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(limits=limits, timeout=10, auth=auth) as client:
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if time.perf_counter() >= deadline:
                return
            started = time.perf_counter()
            response = await client.post(url, data={"grant_type": "client_credentials", "scope": "bench:read"})
            if response.status_code != 200:
                raise RuntimeError(f"token request failed: {response.status_code} {response.text[:200]}")
            latencies.append(time.perf_counter() - started)


async def _load(url: str, auth: tuple[str, str], seconds: float) -> tuple[list[float], float]:
    """Run the workers for `seconds`; returns the latencies and the elapsed time."""
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(_worker(url, auth, deadline, latencies) for _ in range(CONCURRENCY)))
    return latencies, time.perf_counter() - started


def _percentile(values: list[float], fraction: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def measure(seconds: float = 5.0) -> list[dict[str, Any]]:
    """Start `oidcgate idp`, create a client, and measure client-credentials tokens per second."""
    port = free_port()
    admin_token = secrets.token_urlsafe(16)
    base = f"http://127.0.0.1:{port}"
    with work_dir("idp") as work:
        command = [sys.executable, "-m", "oidcgate.cli", "idp", "--listen", f"127.0.0.1:{port}",
                   "--database", f"sqlite:///{work / 'idp.db'}", f"--admin-token={admin_token}"]
        with child("oidcgate idp", command, work / "idp.log", port):
            created = httpx.post(f"{base}/api/v1/clients", timeout=30, headers={"Authorization": f"SSWS {admin_token}"},
                                 json={"name": "bench", "grant_types": ["client_credentials"], "scopes": ["bench:read"]})
            created.raise_for_status()
            auth = (created.json()["client_id"], created.json()["client_secret"])
            url = f"{base}/oauth2/default/v1/token"
            asyncio.run(_load(url, auth, WARMUP_SECONDS))
            latencies, elapsed = asyncio.run(_load(url, auth, seconds))
    return [{
        "name": NAME,
        "rps": len(latencies) / elapsed,
        "p50_ms": _percentile(latencies, 0.50) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
    }]


if __name__ == "__main__":
    print(measure(float(os.environ.get("BENCH_IDP_SECONDS", "5"))))
