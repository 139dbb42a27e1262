"""The Admin GUI: a Starlette app of server-rendered pages over the Admin API, served by `oidcgate cp`.

`create_app(admin_app, admin_token=...)` takes the Admin API's ASGI app and calls it in-process for
every read and write, so the GUI can do exactly what the API allows and nothing else.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from oidcgate.admin_guard import AdminGuard
from oidcgate.controlplane.gui.admin_client import AdminClient, AdminError
from oidcgate.controlplane.gui.pages import (
    analytics,
    auth,
    certificates,
    consumer_groups,
    consumers,
    overview,
    plugins,
    routes,
    runtime,
    services,
)
from oidcgate.controlplane.gui.security import (
    ASGIApp,
    GuardMiddleware,
    SecurityHeadersMiddleware,
    SessionCodec,
)
from oidcgate.controlplane.gui.web import STATIC_DIR, Gui, make_env, render


async def _error_page(request: Request, exc: Exception) -> Response:
    """An Admin API refusal nobody handled (404 stays 404, anything else is the API failing: 502), or
    a GUI HTTPException, as a page with the navigation."""
    if isinstance(exc, AdminError):
        status, message = (404 if exc.status == 404 else 502), exc.message
    elif isinstance(exc, HTTPException):
        status, message = exc.status_code, exc.detail
    else:
        raise exc
    title = {404: "Not found", 502: "Admin API error"}.get(status, "Error")
    return render(request, "error.html", {"title": title, "message": message, "back": "/"}, status=status)


def create_app(admin_app: ASGIApp, *, admin_token: str | None, session_max_age: int = 8 * 3600,
               secret: bytes | None = None) -> Starlette:
    """The GUI app.

    admin_token: the control plane's admin token; when set, the GUI asks for it on a login page and
    sends it to the Admin API; when not, only local callers that are not other sites' pages are served
    (`oidcgate.admin_guard`). secret: the session signing key; a random one per process by default,
    so a restart signs everybody out.
    """
    client = AdminClient(admin_app, admin_token)
    codec = SessionCodec(admin_token, max_age=session_max_age, secret=secret)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    app = Starlette(
        routes=[*auth.routes, *overview.routes, *services.routes, *routes.routes, *consumers.routes,
                *consumer_groups.routes, *plugins.routes, *certificates.routes, *runtime.routes, *analytics.routes,
                Mount("/static", StaticFiles(directory=STATIC_DIR), name="static")],
        middleware=[
            Middleware(SecurityHeadersMiddleware),
            Middleware(AdminGuard, token_required=bool(admin_token)),
            Middleware(GuardMiddleware, codec=codec, admin_token=admin_token),
        ],
        exception_handlers={AdminError: _error_page, HTTPException: _error_page},
        lifespan=lifespan,
    )
    app.state.gui = Gui(admin=client, codec=codec, env=make_env(), admin_token=admin_token)
    return app
