"""The openid-connect plugin's cost on the hot path: requests/s with a cached bearer JWT (RS256) and
with cached client credentials, against the same data plane's route without plugins.

One `oidcgate dp` (1 worker) serves four routes to the bench's nginx upstream: `/plain` (no plugin),
`/noop` (a plugin that does nothing, to show what the plugin phases themselves cost), `/bearer` and
`/cc` (openid-connect against a real `oidcgate idp` on loopback). `/plain` is loaded three ways:
without credentials (the strict reference of the bar) and with the very request of each plugin row
(the same Authorization header, passed through untouched), which tells the plugin's own cost from
the cost of carrying a 1 KB token. Each route gets a warm-up (which fills the plugin's caches: one
token request, one JWKS fetch).

This machine's speed drifts by a factor of two within minutes (other tenants), so every row is
bracketed: each round runs `/plain` without credentials before each other row and once more at the end,
a few seconds each, and a row's ratio in that round is its requests/s over the mean of the two `/plain`
runs either side of it (the reference is never further away than one run). The table gives each row's
median requests/s and its median ratio over ROUNDS rounds. The bar (issue 4): each plugin row's median
ratio at least 85%.

    python -m bench.oidc            # BENCH_OIDC_SECONDS per run (default 2), BENCH_OIDC_ROUNDS (default 15)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from tests.support.processes import free_port
from tests.support.redis import DATABASE, removing_keys_with

from bench.harness import Row, child, dataplane, nginx_upstream, work_dir, wrk
from oidcgate.plugins.openid_connect.client_auth import basic_authorization

BAR = 0.85
SCOPE = "bench:read"
REDIS_PREFIX = f"bench-{secrets.token_hex(6)}:"
SESSION_REDIS = {"prefix": REDIS_PREFIX, "database": DATABASE}  # (the suite's database; the prefix is removed after)
WARMUP_SECONDS = 1
ROUNDS = 15
RUN_SECONDS = 2
# (key, route, name); the key also picks the request's headers
ROWS = (("plain", "plain", "oidcgate, no plugins, no credentials (same data plane as the rows below)"),
        ("plain-bearer", "plain", "oidcgate, no plugins, the bearer row's request"),
        ("plain-cc", "plain", "oidcgate, no plugins, the client-credentials row's request"),
        ("noop", "noop", "oidcgate + a plugin doing nothing (request-transformer, empty config)"),
        ("bearer", "bearer", "oidcgate + openid-connect: bearer JWT (RS256)"),
        ("cc", "cc", "oidcgate + openid-connect: client credentials (cached)"),
        ("session-cookie", "session-cookie", "oidcgate + openid-connect: browser session, cookie storage"),
        ("session-redis", "session-redis", "oidcgate + openid-connect: browser session, Redis storage"))
SESSION_SECRET = secrets.token_urlsafe(32)


@contextlib.contextmanager
def identity_provider() -> Iterator[tuple[str, str, str]]:
    """`oidcgate idp` with one client-credentials client; yields (issuer, client_id, client_secret)."""
    port, admin_token = free_port(), secrets.token_urlsafe(16)
    base = f"http://127.0.0.1:{port}"
    with work_dir("oidc-idp") as work:
        command = [sys.executable, "-m", "oidcgate.cli", "idp", "--listen", f"127.0.0.1:{port}",
                   "--database", f"sqlite:///{work / 'idp.db'}", f"--admin-token={admin_token}"]
        with child("oidcgate idp", command, work / "idp.log", port):
            created = httpx.post(f"{base}/api/v1/clients", timeout=30,
                                 headers={"Authorization": f"SSWS {admin_token}"},
                                 json={"name": "bench", "grant_types": ["client_credentials"], "scopes": [SCOPE]})
            created.raise_for_status()
            yield f"{base}/oauth2/default", created.json()["client_id"], created.json()["client_secret"]


def gateway_doc(upstream: str, issuer: str) -> dict[str, Any]:
    plugin = {"name": "openid-connect", "config": {
        "issuer": issuer, "scopes": [SCOPE], "scopes_required": [SCOPE], "audience_required": ["api://default"],
        "upstream_headers_claims": ["iss", "sub"], "upstream_headers_names": ["Issuer_Header", "X-Subject"]}}
    routes = [{"name": "plain", "paths": ["/plain"]},
              {"name": "noop", "paths": ["/noop"], "plugins": [{"name": "request-transformer", "config": {}}]},
              {"name": "bearer", "paths": ["/bearer"], "plugins": [plugin]},
              {"name": "cc", "paths": ["/cc"], "plugins": [plugin]},
              {"name": "session-cookie", "paths": ["/session-cookie"], "plugins": [session_plugin(issuer, "cookie")]},
              {"name": "session-redis", "paths": ["/session-redis"], "plugins": [session_plugin(issuer, "redis")]}]
    return {"_format_version": "3.0", "services": [{"name": "bench", "url": upstream, "routes": routes}]}


def session_plugin(issuer: str, storage: str) -> dict[str, Any]:
    """openid-connect accepting browser sessions (the rows measure a signed-in browser's repeat request)."""
    return {"name": "openid-connect", "config": {
        "issuer": issuer, "client_id": ["bench-web"], "client_secret": ["unused"], "auth_methods": ["session"],
        "session_secret": SESSION_SECRET, "session_storage": storage, "redis": SESSION_REDIS,
        "upstream_headers_claims": ["iss", "sub"], "upstream_headers_names": ["Issuer_Header", "X-Subject"]}}


def session_cookies(issuer: str, token: str) -> dict[str, dict[str, str]]:
    """A signed-in browser's Cookie header for each storage: the session as sign-in would have stored it."""
    from oidcgate.shared_state import close_pools

    async def stored() -> dict[str, dict[str, str]]:
        try:
            return await stored_sessions(issuer, token)
        finally:
            await close_pools()

    return asyncio.run(stored())


async def stored_sessions(issuer: str, token: str) -> dict[str, dict[str, str]]:
    """`session_cookies`, in the caller's event loop (and its Redis pools)."""
    from oidcgate.plugins.openid_connect.session.config import SessionRedis
    from oidcgate.plugins.openid_connect.session.record import Session, new_id
    from oidcgate.plugins.openid_connect.session.storage import CookieStorage, RedisStorage

    now = time.time()
    session = Session(id=new_id(), issuer=issuer, client_id="bench-web", created=now, renewed=now, seen=now,
                      access_token=token, expires_at=now + 3000, id_token=None, refresh_token=None,
                      claims={"iss": issuer, "sub": "bench-user"})
    cookie = await CookieStorage(SESSION_SECRET, "session").save(session, 3000, now)
    redis = await RedisStorage(SESSION_SECRET, "session", SessionRedis(**SESSION_REDIS)).save(session, 3000, now)
    return {"session-cookie": {"Cookie": f"session={cookie}"}, "session-redis": {"Cookie": f"session={redis}"}}


def client_credentials_token(issuer: str, client_id: str, secret: str) -> str:
    response = httpx.post(f"{issuer}/v1/token", auth=(client_id, secret), timeout=30,
                          data={"grant_type": "client_credentials", "scope": SCOPE})
    response.raise_for_status()
    return str(response.json()["access_token"])


def _rounds(base: str, headers: dict[str, dict[str, str]], rows: tuple[tuple[str, str, str], ...] = ROWS,
            fresh: Callable[[str], dict[str, str] | None] | None = None,
            ) -> tuple[dict[str, list[Row]], dict[str, list[float]]]:
    """Every row's runs, and its ratio to the no-credentials `/plain` runs either side of it (see the module
    doc); the first of `rows` is that reference. `fresh(key)` gives a row new headers before each of its runs (or
    None): a session's cookie, as a browser holds the one the gateway renewed. (wrk cannot take a
    Set-Cookie: a cookie older than the session's touch interval, a minute, would have every request renew
    the session, which no browser does.)"""
    for key, route, name in rows:
        check = httpx.get(f"{base}/{route}", headers=headers[key], timeout=30)
        if check.status_code != 200:
            raise RuntimeError(f"{name}: expected 200 before measuring, got {check.status_code} {check.text[:200]}")
        wrk(f"{base}/{route}", seconds=WARMUP_SECONDS, headers=headers[key])
    seconds = int(os.environ.get("BENCH_OIDC_SECONDS", RUN_SECONDS))
    runs: dict[str, list[Row]] = {key: [] for key, _, _ in rows}
    ratios: dict[str, list[float]] = {key: [] for key, _, _ in rows}
    reference = rows[0]

    def run(key: str, route: str, name: str) -> float:
        if fresh is not None and (renewed := fresh(key)) is not None:
            headers[key] = renewed
        row = wrk(f"{base}/{route}", headers=headers[key], name=name, seconds=seconds)
        runs[key].append(row)
        return row.rps or 0.0

    for _ in range(int(os.environ.get("BENCH_OIDC_ROUNDS", ROUNDS))):
        before = run(*reference)
        for key, route, name in rows[1:]:
            measured = run(key, route, name)
            after = run(*reference)
            bracket = (before + after) / 2
            ratios[key].append(measured / bracket if bracket else 0.0)
            before = after
        ratios[reference[0]].append(1.0)  # (the reference, to itself: one per round)
    return runs, ratios


def measure() -> list[dict[str, Any]]:
    with removing_keys_with(REDIS_PREFIX), identity_provider() as (issuer, client_id, secret), \
            nginx_upstream() as upstream, dataplane(gateway_doc(upstream, issuer), workers=1) as base:
        token = client_credentials_token(issuer, client_id, secret)
        bearer = {"Authorization": f"Bearer {token}"}
        basic = {"Authorization": basic_authorization(client_id, secret)}
        runs, ratios = _rounds(base, {"plain": {}, "plain-bearer": bearer, "plain-cc": basic, "noop": bearer,
                                      "bearer": bearer, "cc": basic, **session_cookies(issuer, token)},
                               fresh=lambda key: session_cookies(issuer, token)[key] if key.startswith("session")
                               else None)
    ratio = {key: statistics.median(values) for key, values in ratios.items()}
    notes = {
        "plain": f"the reference of the bar; medians of {len(runs['plain'])} runs in "
                 f"{len(ratios['plain'])} rounds",
        "plain-bearer": f"{ratio['plain-bearer']:.0%} of the no-credentials row: what carrying the token costs",
        "plain-cc": f"{ratio['plain-cc']:.0%} of the no-credentials row",
        "noop": f"{ratio['noop']:.0%} of the no-plugin row: what running the plugin phases costs",
    }
    for key in ("session-cookie", "session-redis"):
        notes[key] = f"{ratio[key]:.1%} of the no-plugin row (bar >= {BAR:.0%}: " \
                     f"{'met' if ratio[key] >= BAR else 'NOT met'}; per round {min(ratios[key]):.0%} to " \
                     f"{max(ratios[key]):.0%})"
    for key in ("bearer", "cc"):
        same = ratio[key] / ratio[f"plain-{key}"] if ratio[f"plain-{key}"] else 0.0
        notes[key] = f"{ratio[key]:.1%} of the no-plugin row (bar >= {BAR:.0%}: " \
                     f"{'met' if ratio[key] >= BAR else 'NOT met'}; per round {min(ratios[key]):.0%} to " \
                     f"{max(ratios[key]):.0%}), {same:.0%} of the same request without the plugin"
    return [_median_row(runs[key], notes[key]) for key, _, _ in ROWS]


def _median_row(runs: list[Row], note: str) -> dict[str, Any]:
    problems = "; ".join(sorted({row.note for row in runs if row.note}))
    return {"name": runs[0].name, "rps": statistics.median(row.rps or 0.0 for row in runs),
            "p50_ms": statistics.median(row.p50_ms or 0.0 for row in runs),
            "p99_ms": statistics.median(row.p99_ms or 0.0 for row in runs),
            "note": "; ".join(filter(None, [note, problems]))}


if __name__ == "__main__":
    print(f"wrk {os.environ.get('BENCH_OIDC_SECONDS', RUN_SECONDS)} s per run")
    for result in measure():
        print(result)
