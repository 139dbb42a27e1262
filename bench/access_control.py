"""The acl and rate-limiting plugins' cost on the hot path, against the same data plane's route without plugins.

One `oidcgate dp` (1 worker) serves `/plain` (no plugin), `/oidc` (openid-connect mapping a client-credentials
token to a consumer: what `/acl` adds acl to), `/acl` (the same plus acl allowing the consumer's ACL group),
`/rl-local` and `/rl-redis` (rate-limiting by IP with a limit never reached, counted per worker and in the
machine's Redis: one pipelined round trip per request). Rounds and ratios as in bench.oidc: each row's
median requests/s and its median ratio to the no-plugin row of the same round.

    python -m bench.access_control   # BENCH_OIDC_SECONDS per run (default 2), BENCH_OIDC_ROUNDS (default 15)
"""

from __future__ import annotations

import statistics
import uuid
from typing import Any

from tests.support.redis import DATABASE, removing_keys_with

from bench.harness import dataplane, nginx_upstream
from bench.oidc import SCOPE, _median_row, _rounds, client_credentials_token, identity_provider

NEVER = 10**12  # a limit no run reaches
ROWS = (("plain", "plain", "oidcgate, no plugins (same data plane as the rows below)"),
        ("oidc", "oidc", "oidcgate + openid-connect (bearer, consumer mapped): the reference of the acl row"),
        ("acl", "acl", "oidcgate + openid-connect + acl"),
        ("rl-local", "rl-local", "oidcgate + rate-limiting, policy local"),
        ("rl-redis", "rl-redis", "oidcgate + rate-limiting, policy redis"))


def gateway_doc(upstream: str, issuer: str, client_id: str, redis_route: str) -> dict[str, Any]:
    authenticate = {"name": "openid-connect", "config": {"issuer": issuer, "scopes": [SCOPE],
                                                         "consumer_claim": ["sub"], "consumer_by": ["username"]}}
    limit = {"minute": NEVER, "limit_by": "ip"}
    routes = [{"name": "plain", "paths": ["/plain"]},
              {"name": "oidc", "paths": ["/oidc"], "plugins": [authenticate]},
              {"name": "acl", "paths": ["/acl"], "plugins": [authenticate, {"name": "acl", "config": {
                  "allow": ["bench"]}}]},
              {"name": "rl-local", "paths": ["/rl-local"], "plugins": [{"name": "rate-limiting", "config": limit}]},
              {"name": "rl-redis", "id": redis_route, "paths": ["/rl-redis"], "plugins": [{
                  "name": "rate-limiting", "config": {**limit, "policy": "redis", "redis": {"database": DATABASE}}}]}]
    return {"_format_version": "3.0", "services": [{"name": "bench", "url": upstream, "routes": routes}],
            "consumers": [{"username": client_id, "acls": [{"group": "bench"}]}]}


def measure() -> list[dict[str, Any]]:
    with identity_provider() as (issuer, client_id, secret), nginx_upstream() as upstream, \
            removing_keys_with(str(uuid.uuid4())) as redis_route, \
            dataplane(gateway_doc(upstream, issuer, client_id, redis_route), workers=1) as base:
        bearer = {"Authorization": f"Bearer {client_credentials_token(issuer, client_id, secret)}"}
        runs, ratios = _rounds(base, {"plain": {}, "oidc": bearer, "acl": bearer, "rl-local": {}, "rl-redis": {}},
                               ROWS)
    ratio = {key: statistics.median(values) for key, values in ratios.items()}
    notes = {"plain": f"the reference; medians of {len(runs['plain'])} runs in {len(ratios['plain'])} rounds"}
    for key in ("oidc", "acl", "rl-local", "rl-redis"):
        notes[key] = f"{ratio[key]:.1%} of the no-plugin row (per round {min(ratios[key]):.0%} to " \
                     f"{max(ratios[key]):.0%})"
    notes["acl"] += f", {ratio['acl'] / ratio['oidc']:.0%} of the openid-connect row" if ratio["oidc"] else ""
    return [_median_row(runs[key], notes[key]) for key, _, _ in ROWS]


if __name__ == "__main__":
    for result in measure():
        print(result)
