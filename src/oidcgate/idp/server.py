"""Running the identity provider: in-process (`build`) or as a server (`serve`, used by `oidcgate idp`).

    from oidcgate.idp import server
    from oidcgate.idp.settings import Settings
    app = server.build(Settings(database_url="sqlite:///idp.db"))  # ASGI app, e.g. for httpx.ASGITransport
    server.serve(Settings(database_url="sqlite:///idp.db", port=9000))  # blocks until SIGINT/SIGTERM
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette

from oidcgate.idp import service
from oidcgate.idp.http.app import build_app
from oidcgate.idp.provider import Provider
from oidcgate.idp.settings import DEFAULT_SERVER_ID, Settings

log = logging.getLogger("oidcgate.idp")


def build(settings: Settings) -> Starlette:
    """Open the store (creating tables and the default server if needed) and build the ASGI app."""
    return build_app(Provider(settings, service.open_store(settings.database_url)))


def serve(settings: Settings) -> None:
    import uvicorn

    app = build(settings)
    print(f"oidcgate idp: issuer {settings.issuer(DEFAULT_SERVER_ID)} (listening on {settings.host}:{settings.port})",
          flush=True)
    print(f"oidcgate idp: admin API {'enabled' if settings.admin_token else 'disabled (no admin token)'}", flush=True)
    # No access log: authorization responses carry codes in URLs.
    from oidcgate.tls.contexts import server_context_pairs
    from oidcgate.tls.uvicorn import with_tls

    tls = server_context_pairs([(settings.tls_cert, settings.tls_key)]) if settings.tls_cert and settings.tls_key \
        else None
    config = uvicorn.Config(app, host=settings.host, port=settings.port, loop="uvloop", http="httptools",
                            access_log=False, log_level="warning", server_header=False,
                            proxy_headers=settings.forwarded_allow_ips is not None,
                            forwarded_allow_ips=settings.forwarded_allow_ips)
    uvicorn.Server(with_tls(config, tls)).run()
