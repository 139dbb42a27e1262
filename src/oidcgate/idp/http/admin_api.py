"""The REST admin API under /api/v1, Okta-flavoured: `Authorization: SSWS <admin token>`.

Disabled (404) unless an admin token is configured. Collections are generated from one table of
(path, spec, create, list, get, delete), all calling `service`, like the CLI.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oidcgate.idp import service
from oidcgate.idp.http.web import PayloadTooLarge, read_body
from oidcgate.idp.settings import DEFAULT_SERVER_ID
from oidcgate.idp.storage.keys import ALGORITHMS

if TYPE_CHECKING:
    from oidcgate.idp.provider import Provider

MAX_BODY = 256 * 1024


def _json(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code, headers={"Cache-Control": "no-store", **(headers or {})},
                    media_type="application/json")


def _error(status_code: int, error: str, description: str, headers: dict[str, str] | None = None) -> Response:
    return _json({"error": error, "error_description": description}, status_code, headers)


@dataclass(frozen=True)
class Collection:
    path: str
    spec: type[BaseModel]
    create: Callable[[Provider, Any], Any]
    list: Callable[[Provider], Any]
    get: Callable[[Provider, str], Any] | None
    delete: Callable[[Provider, str], None]


def _created_client(provider: Provider, spec: service.ClientSpec) -> dict[str, Any]:
    created = service.create_client(provider.store, spec, provider.hasher)
    return {**created.client, "client_secret": created.client_secret}


def _deleted_client(provider: Provider, client_id: str) -> None:
    service.delete_client(provider.store, client_id)
    provider.forget_client(client_id)


COLLECTIONS = (
    Collection("/api/v1/clients", service.ClientSpec, _created_client,
               lambda provider: service.list_clients(provider.store),
               lambda provider, key: service.get_client(provider.store, key), _deleted_client),
    Collection("/api/v1/users", service.UserSpec,
               lambda provider, spec: service.create_user(provider.store, spec, provider.hasher),
               lambda provider: service.list_users(provider.store),
               lambda provider, key: service.user_view(service.find_user(provider.store, key)),
               lambda provider, key: service.delete_user(provider.store, key)),
    Collection("/api/v1/scopes", service.ScopeSpec,
               lambda provider, spec: service.create_scope(provider.store, spec),
               lambda provider: service.list_scopes(provider.store), None,
               lambda provider, key: service.delete_scope(provider.store, key)),
    Collection("/api/v1/authorizationServers", service.ServerSpec,
               lambda provider, spec: service.create_server(provider.store, spec),
               lambda provider: service.list_servers(provider.store),
               lambda provider, key: service.server_view(service.get_server(provider.store, key)),
               lambda provider, key: service.delete_server(provider.store, key)),
)


class AdminApi:
    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        token = provider.settings.admin_token
        self._token = token.encode() if token else None

    def _denied(self, request: Request) -> Response | None:
        if self._token is None:
            return _error(404, "not_found", "the admin API is disabled (no admin token is set)")
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if scheme != "SSWS" or not hmac.compare_digest(presented.strip().encode(), self._token):
            return _error(401, "invalid_token", "an admin token is required: Authorization: SSWS <token>",
                          {"WWW-Authenticate": 'SSWS realm="oidcgate-idp admin"'})
        return None

    async def _body(self, request: Request) -> dict[str, Any]:
        try:
            raw = await read_body(request, MAX_BODY)
        except PayloadTooLarge as exc:
            raise service.ServiceError(exc.description) from exc
        if not raw:
            return {}
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise service.ServiceError(f"the body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise service.ServiceError("the body must be a JSON object")
        return body

    async def _handle(self, request: Request, action: Callable[[], Awaitable[Any]], status_code: int = 200) -> Response:
        """Authorize, run `action`, and map management errors to 400/404/409."""
        denied = self._denied(request)
        if denied is not None:
            return denied
        try:
            result = await action()
        except service.NotFound as exc:
            return _error(404, "not_found", str(exc))
        except service.Conflict as exc:
            return _error(409, "conflict", str(exc))
        except service.ServiceError as exc:
            return _error(400, "invalid_request", str(exc))
        return _json(result, status_code) if result is not None else Response(status_code=204)

    def collection_routes(self, collection: Collection) -> list[Route]:
        provider = self.provider

        async def listing(request: Request) -> Response:
            if request.method == "GET":
                return await self._handle(request, lambda: run_in_threadpool(collection.list, provider))

            async def create() -> Any:
                spec = service.validated(collection.spec, await self._body(request))
                return await run_in_threadpool(collection.create, provider, spec)

            return await self._handle(request, create, 201)

        async def item(request: Request) -> Response:
            key = request.path_params["key"]
            if "\x00" in key:
                return _error(404, "not_found", "no such item")
            operation = collection.delete if request.method == "DELETE" else collection.get
            assert operation is not None
            return await self._handle(request, lambda: run_in_threadpool(operation, provider, key))

        methods = ["GET", "DELETE"] if collection.get else ["DELETE"]
        return [Route(collection.path, listing, methods=["GET", "POST"]),
                Route(collection.path + "/{key}", item, methods=methods)]

    async def update_server(self, request: Request) -> Response:
        server_id = request.path_params["key"]

        async def update() -> Any:
            changes = service.validated(service.ServerUpdate, await self._body(request))
            result = await run_in_threadpool(service.update_server, self.provider.store, server_id, changes)
            self.provider.forget_server(server_id)
            return result

        return await self._handle(request, update)

    async def rotate_keys(self, request: Request) -> Response:
        server_id = request.path_params.get("key", DEFAULT_SERVER_ID)

        async def rotate() -> Any:
            alg = (await self._body(request)).get("alg")
            if alg not in (None, *ALGORITHMS):
                raise service.ServiceError(f"alg must be one of {', '.join(ALGORITHMS)}")
            result = await run_in_threadpool(service.rotate_keys, self.provider.store, server_id, alg)
            self.provider.forget_server(server_id)
            return result

        return await self._handle(request, rotate)

    async def list_keys(self, request: Request) -> Response:
        server_id = request.path_params["key"]
        return await self._handle(request, lambda: run_in_threadpool(service.list_keys, self.provider.store, server_id))


def routes(provider: Provider) -> list[Route]:
    api = AdminApi(provider)
    servers = "/api/v1/authorizationServers/{key}"
    return [
        Route(servers, api.update_server, methods=["PUT"]),
        Route(f"{servers}/keys", api.list_keys, methods=["GET"]),
        Route(f"{servers}/keys/rotate", api.rotate_keys, methods=["POST"]),
        Route("/api/v1/keys/rotate", api.rotate_keys, methods=["POST"]),
        *(route for collection in COLLECTIONS for route in api.collection_routes(collection)),
    ]
