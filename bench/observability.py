"""The observer plugins' cost on the hot path, against the same data plane's route without plugins.

One `oidcgate dp` (1 worker) serves `/plain` (no plugin), `/prometheus` (the prometheus plugin with status
codes, latencies and bandwidth on; status codes and latencies are counted for every request anyway, for
analytics), `/http-log` (http-log sending batches of 100 entries to a collector: the bench's nginx, which
answers every POST with 200) and `/opentelemetry` (every request traced, spans exported to the same
nginx). Rounds and ratios as in bench.oidc: each row's median requests/s and its median ratio to the
no-plugin row of the same round.

    python -m bench.observability   # BENCH_OIDC_SECONDS per run (default 2), BENCH_OIDC_ROUNDS (default 15)
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.harness import dataplane, nginx_upstream
from bench.oidc import _median_row, _rounds

PROMETHEUS = {"name": "prometheus", "config": {"status_code_metrics": True, "latency_metrics": True,
                                               "bandwidth_metrics": True}}
ROWS = (("plain", "plain", "oidcgate, no plugins (same data plane as the rows below)"),
        ("prometheus", "prometheus", "oidcgate + prometheus (status codes, latencies, bandwidth)"),
        ("http-log", "http-log", "oidcgate + http-log (batches of 100 to a collector)"),
        ("opentelemetry", "opentelemetry", "oidcgate + opentelemetry (every request traced, batches of 200)"))


def gateway_doc(upstream: str) -> dict[str, Any]:
    http_log = {"name": "http-log", "config": {"http_endpoint": f"{upstream}/logs", "queue": {
        "max_batch_size": 100, "max_coalescing_delay": 1}}}
    tracing = {"name": "opentelemetry", "config": {"traces_endpoint": f"{upstream}/v1/traces"}}
    routes = [{"name": "plain", "paths": ["/plain"]},
              {"name": "prometheus", "paths": ["/prometheus"], "plugins": [PROMETHEUS]},
              {"name": "http-log", "paths": ["/http-log"], "plugins": [http_log]},
              {"name": "opentelemetry", "paths": ["/opentelemetry"], "plugins": [tracing]}]
    return {"_format_version": "3.0", "services": [{"name": "bench", "url": upstream, "routes": routes}]}


def measure() -> list[dict[str, Any]]:
    with nginx_upstream() as upstream, dataplane(gateway_doc(upstream), workers=1) as base:
        runs, ratios = _rounds(base, {key: {} for key, _, _ in ROWS}, ROWS)
    ratio = {key: statistics.median(values) for key, values in ratios.items()}
    notes = {"plain": f"the reference; medians of {len(runs['plain'])} runs in {len(ratios['plain'])} rounds"}
    for key, _, _ in ROWS[1:]:
        notes[key] = f"{ratio[key]:.1%} of the no-plugin row (per round {min(ratios[key]):.0%} to " \
                     f"{max(ratios[key]):.0%})"
    return [_median_row(runs[key], notes[key]) for key, _, _ in ROWS]


if __name__ == "__main__":
    for result in measure():
        print(result)
