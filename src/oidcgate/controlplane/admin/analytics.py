"""Traffic analytics: `GET /analytics/summary` and `GET /analytics/timeseries`.

Both take `window` (15m, 1h or 1d; 15m by default) and narrow to one `service`, `route` or `consumer`
(an id or an endpoint key: name, username), or several at once. An id is taken as it is, so the traffic
of a deleted entity stays visible; a name must belong to an entity (404 otherwise). Bad options are
Kong's "invalid options" error (400, code 11).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oidcgate.controlplane.admin.entities import run
from oidcgate.controlplane.admin.responses import JSON
from oidcgate.controlplane.analytics import DEFAULT_WINDOW, WINDOWS, AnalyticsStore, Scope
from oidcgate.controlplane.errors import InvalidOptions
from oidcgate.controlplane.store import Store, is_uuid

SCOPES = (("service", "services"), ("route", "routes"), ("consumer", "consumers"))


async def _query(request: Request, store: Store) -> tuple[str, Scope, dict[str, str]]:
    """The window, the scope, and the scope as shown in the answer."""
    window = request.query_params.get("window", DEFAULT_WINDOW)
    if window not in WINDOWS:
        raise InvalidOptions("window", f"must be one of {', '.join(WINDOWS)}")
    ids: dict[str, str] = {}
    for kind, collection in SCOPES:
        key = request.query_params.get(kind)
        if key is None:
            continue
        if not key:
            raise InvalidOptions(kind, f"expected the id or name of one of {collection}")
        ids[kind] = key.lower() if is_uuid(key) else (await run(store.get, collection, key))["id"]
    return window, Scope(**ids), ids


def routes(store: Store, analytics: AnalyticsStore) -> list[Route]:
    async def summary(request: Request) -> Response:
        window, scope, shown = await _query(request, store)
        return JSON({**await run(analytics.summary, window, scope), "scope": shown})

    async def timeseries(request: Request) -> Response:
        window, scope, shown = await _query(request, store)
        return JSON({**await run(analytics.timeseries, window, scope), "scope": shown})

    return [
        Route("/analytics/summary", summary, methods=["GET"]),
        Route("/analytics/timeseries", timeseries, methods=["GET"]),
    ]
