"""Benchmark: time to push a 10,000-entity config from the control plane to two data planes.

A control plane (SQLite) and two data planes run as real processes on loopback. The config
(2,500 services with 3 routes each) is posted to the control plane's `POST /config`; the clock stops
when both data planes report the new hash on their status API (`GET /status` configuration_hash).
Run alone: `python -m bench.cp_push`.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from tests.cluster import topology
from tests.support.polling import wait_until

SERVICES = 2_500
ROUTES_PER_SERVICE = 3
TIMEOUT = 180.0


def document(generation: int) -> dict[str, Any]:
    """2,500 services and 7,500 routes; `generation` changes every route path so each push differs."""
    return {"_format_version": "3.0", "services": [
        {"name": f"svc-{s}", "url": f"http://127.0.0.1:9090/s{s}", "routes": [
            {"name": f"svc-{s}-r{r}", "paths": [f"/g{generation}/s{s}/r{r}"]} for r in range(ROUTES_PER_SERVICE)
        ]} for s in range(SERVICES)
    ]}


def _push(admin: httpx.Client, dps: list[topology.DataPlane], generation: int) -> tuple[float, float]:
    """(seconds from sending POST /config, seconds from its 201) until both data planes run the new hash."""
    body = document(generation)
    started = time.monotonic()
    response = admin.post("/config", json=body)
    accepted = time.monotonic()
    response.raise_for_status()
    expected = admin.get("/status").json()["configuration_hash"]
    wait_until(lambda: all(dp.config_hash() == expected for dp in dps), timeout=TIMEOUT, interval=0.05)
    done = time.monotonic()
    return done - started, done - accepted


def measure() -> list[dict[str, Any]]:
    entities = SERVICES * (1 + ROUTES_PER_SERVICE)
    with tempfile.TemporaryDirectory(prefix="oidcgate-cp-push-") as tmp, contextlib.ExitStack() as stack:
        folder = Path(tmp)
        files = topology.cluster_files(folder)
        cp, dps = topology.control_plane_with_data_planes(stack, folder, files)
        admin = stack.enter_context(httpx.Client(base_url=cp.admin, timeout=TIMEOUT))
        rows = []
        for generation, what in ((1, "first push"), (2, "update")):
            total, push = _push(admin, dps, generation)
            rows.append({
                "name": f"cp push: {entities:,} entities to 2 DPs ({what})", "rps": None,
                "p50_ms": None, "p99_ms": None,
                "note": f"{entities} entities pushed to 2 DPs in {total:.2f} s "
                        f"({push:.2f} s after POST /config returned)",
            })
        return rows


if __name__ == "__main__":
    for row in measure():
        print(f"{row['name']}: {row['note']}")
