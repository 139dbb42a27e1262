"""The HTTP layer: a Starlette application exposing the provider in Okta's URL layout.

The JSON endpoints (token, introspection, revocation, UserInfo, keys, discovery) are here; the
HTML pages are in `pages`, the admin API in `admin_api`. Endpoints read and validate the request,
run the synchronous provider in a worker thread, and map `OAuthError`s to the responses their specs
prescribe. Nothing here holds protocol logic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oidcgate.idp.http import admin_api
from oidcgate.idp.http.pages import Pages
from oidcgate.idp.http.web import (
    NO_STORE,
    error_response,
    form_params,
    json_response,
    not_found,
    read_body,
    source_address,
)
from oidcgate.idp.protocol import rfc6750_bearer, rfc8414_discovery
from oidcgate.idp.protocol.oidc_core import STANDARD_SCOPES
from oidcgate.idp.protocol.rfc6749_errors import OAuthError
from oidcgate.idp.protocol.rfc6749_requests import parse_params
from oidcgate.idp.provider import Provider, SlowedInvalidClient, UnknownServer
from oidcgate.idp.storage.store import Scope
from oidcgate.oidc import DISCOVERY_SUFFIX

log = logging.getLogger("oidcgate.idp")

PURGE_INTERVAL = 600.0
T = TypeVar("T")


class Endpoints:
    """The JSON endpoints, sharing one `Provider`."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    # Token, introspection, revocation: form posts answered with JSON.

    async def _form_endpoint(self, request: Request,
                             operation: Callable[[str, dict[str, str], str | None, str], T]) -> T | Response:
        try:
            params = await form_params(request)
            return await run_in_threadpool(operation, request.path_params["server_id"], params,
                                           request.headers.get("authorization"), source_address(request))
        except SlowedInvalidClient as exc:
            await asyncio.sleep(exc.hold)  # on the event loop: a held answer costs no worker thread
            return error_response(exc)
        except OAuthError as exc:
            return error_response(exc)
        except UnknownServer as exc:
            return not_found(f"no authorization server {exc}")

    async def token(self, request: Request) -> Response:
        result = await self._form_endpoint(request, self.provider.token)
        return result if isinstance(result, Response) else json_response(result, headers=NO_STORE)

    async def introspect(self, request: Request) -> Response:
        result = await self._form_endpoint(request, self.provider.introspect)
        return result if isinstance(result, Response) else json_response(result, headers=NO_STORE)

    async def revoke(self, request: Request) -> Response:
        result = await self._form_endpoint(request, self.provider.revoke)
        return result if isinstance(result, Response) else Response(status_code=200, headers=NO_STORE)

    async def userinfo(self, request: Request) -> Response:
        try:
            form = None
            if request.method == "POST" and request.headers.get("content-type", "").startswith(
                    "application/x-www-form-urlencoded"):
                form = parse_params(await read_body(request))
            token = rfc6750_bearer.extract_token(request.headers.get("authorization"), form)
            claims = await run_in_threadpool(self.provider.userinfo, request.path_params["server_id"], token)
        except OAuthError as exc:
            return error_response(exc)
        except UnknownServer as exc:
            return not_found(f"no authorization server {exc}")
        return json_response(claims, headers=NO_STORE)

    # Discovery and keys.

    def _metadata(self, server_id: str, openid: bool) -> dict[str, Any]:
        server = self.provider.server(server_id)
        issuer = self.provider.issuer(server)
        scopes = {*STANDARD_SCOPES, *(scope.name for scope in self.provider.store.all(Scope))}
        grant_types = self.provider.grants
        if not openid:
            return rfc8414_discovery.authorization_server_metadata(issuer, scopes, grant_types)
        return rfc8414_discovery.openid_configuration(issuer, scopes, grant_types,
                                                      self.provider.keyring.algorithms(server.id))

    async def _discovery(self, request: Request, openid: bool) -> Response:
        try:
            metadata = await run_in_threadpool(self._metadata, request.path_params["server_id"], openid)
        except UnknownServer as exc:
            return not_found(f"no authorization server {exc}")
        return json_response(metadata, headers={"Cache-Control": "public, max-age=60"})

    async def openid_configuration(self, request: Request) -> Response:
        return await self._discovery(request, openid=True)

    async def oauth_metadata(self, request: Request) -> Response:
        return await self._discovery(request, openid=False)

    async def jwks(self, request: Request) -> Response:
        server_id = request.path_params["server_id"]
        try:
            await run_in_threadpool(self.provider.server, server_id)
            keys = await run_in_threadpool(self.provider.keyring.jwks, server_id)
        except UnknownServer as exc:
            return not_found(f"no authorization server {exc}")
        return json_response(keys, headers={"Cache-Control": "public, max-age=60"})

    async def health(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    def routes(self) -> list[Route]:
        base = "/oauth2/{server_id}"
        return [
            Route(f"{base}{DISCOVERY_SUFFIX}", self.openid_configuration, methods=["GET"]),
            Route(f"{base}/.well-known/oauth-authorization-server", self.oauth_metadata, methods=["GET"]),
            Route("/.well-known/oauth-authorization-server/oauth2/{server_id}", self.oauth_metadata, methods=["GET"]),
            Route(f"{base}/v1/keys", self.jwks, methods=["GET"]),
            Route(f"{base}/v1/token", self.token, methods=["POST"]),
            Route(f"{base}/v1/introspect", self.introspect, methods=["POST"]),
            Route(f"{base}/v1/revoke", self.revoke, methods=["POST"]),
            Route(f"{base}/v1/userinfo", self.userinfo, methods=["GET", "POST"]),
            Route("/health", self.health, methods=["GET"]),
        ]


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return json_response({"error": "server_error", "error_description": "internal error"}, 500, NO_STORE)


async def _purge_forever(provider: Provider) -> None:
    while True:
        await asyncio.sleep(PURGE_INTERVAL)
        try:
            await run_in_threadpool(provider.store.purge_expired, int(time.time()))
        except Exception:  # a failed purge must not stop the next one
            log.exception("purging expired rows failed")


def build_app(provider: Provider) -> Starlette:
    """The ASGI application; also usable in-process (e.g. with httpx.ASGITransport)."""
    endpoints = Endpoints(provider)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        purger = asyncio.create_task(_purge_forever(provider), name="idp-purge")
        try:
            yield
        finally:
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger

    routes = [*endpoints.routes(), *Pages(provider).routes(), *admin_api.routes(provider)]
    return Starlette(routes=routes, exception_handlers={Exception: _server_error}, lifespan=lifespan)
