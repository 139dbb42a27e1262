"""The Admin API application: `create_app(store, ...)` gives a Starlette app to serve or call in-process.

Errors keep Kong's shapes: `{"message": "Not found"}` for unknown paths and entities,
`{"message": "Method not allowed"}`, and the store's coded errors (schema, unique, foreign key
violations). Unexpected failures answer a generic 500 and are logged with their traceback
(never the request body: it may carry plugin secrets).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from oidcgate.admin_guard import AdminGuard
from oidcgate.controlplane.admin import (
    analytics,
    certificates,
    clustering,
    consumer_groups,
    declarative,
    entities,
    meta,
)
from oidcgate.controlplane.admin.context import AdminContext
from oidcgate.controlplane.admin.responses import JSON
from oidcgate.controlplane.analytics import AnalyticsStore
from oidcgate.controlplane.errors import AdminError
from oidcgate.controlplane.store import Store

log = logging.getLogger("oidcgate.controlplane.admin")

TOKEN_HEADER = b"kong-admin-token"
UNAUTHORIZED = {"message": "Invalid credentials. Token or User credentials required"}
HTTP_MESSAGES = {404: "Not found", 405: "Method not allowed"}


class TrailingSlash:
    """`/services/` is `/services` (Kong's curl examples use both); no redirects."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and len(scope["path"]) > 1 and scope["path"].endswith("/"):
            scope = {**scope, "path": scope["path"].rstrip("/") or "/"}
            if scope.get("raw_path"):
                scope["raw_path"] = scope["raw_path"].rstrip(b"/") or b"/"
        await self.app(scope, receive, send)


class AdminToken:
    """Every request needs `Kong-Admin-Token: <token>` (compared in constant time)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.digest = hashlib.sha256(token.encode()).digest()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = next((value for name, value in scope["headers"] if name == TOKEN_HEADER), b"")
            if not hmac.compare_digest(hashlib.sha256(given).digest(), self.digest):
                await JSON(UNAUTHORIZED, 401)(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _admin_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AdminError)
    return JSON(exc.body(), exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = HTTP_MESSAGES.get(exc.status_code, exc.detail)
    return JSON({"message": message}, exc.status_code, headers=exc.headers)


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    """The database is down or saturated: retryable, so 503 (Kong's "database error", code 8)."""
    log.warning("%s %s: database unavailable: %s", request.method, request.url.path, type(exc).__name__)
    return JSON({"code": 8, "name": "database error", "message": "database unavailable, try again"}, 503)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSON({"message": "An unexpected error occurred"}, 500)


def create_app(store: Store, *, admin_token: str | None = None, node_id: str | None = None,
               configuration: Mapping[str, Any] | None = None,
               runtime_script: Callable[[], str] | None = None,
               analytics_store: AnalyticsStore | None = None) -> Starlette:
    """The Admin API on `store`. With `admin_token`, every request must send it in Kong-Admin-Token;
    without, only local callers that are not web pages are served (`oidcgate.admin_guard`).

    `configuration` is shown in `GET /`; `runtime_script` renders `GET /clustering/runtime-script`;
    `analytics_store` answers `/analytics/...` (by default one on the store's database).
    The AdminContext is at `app.state.context`.
    """
    context = AdminContext(store, configuration=dict(configuration or {}), runtime_script=runtime_script)
    if node_id is not None:
        context.node_id = node_id
    middleware = [Middleware(AdminToken, token=admin_token)] if admin_token else []
    middleware += [Middleware(AdminGuard, token_required=bool(admin_token)), Middleware(TrailingSlash)]
    app = Starlette(
        routes=[*meta.routes(context), *entities.routes(store, certificates.ENDPOINTS), *consumer_groups.routes(store),
                *declarative.routes(store), *clustering.routes(context),
                *analytics.routes(store, analytics_store or AnalyticsStore(store.engine))],
        middleware=middleware,
        exception_handlers={AdminError: _admin_error, HTTPException: _http_error,
                            OperationalError: _database_unavailable, PoolTimeout: _database_unavailable,
                            Exception: _unexpected},
    )
    app.state.context = context
    return app
