"""Call the plugin's handler as the data plane does: a validated config, a PluginEnv, a pdk.Context per request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from oidcgate.config.entities import Consumer, Route
from oidcgate.plugins.openid_connect.client_auth import basic_authorization
from oidcgate.plugins.openid_connect.handler import OpenIDConnectHandler
from oidcgate.plugins.pdk import ConsumerIndex, Context, Headers, PluginEnv, PluginExit, Request

ROUTE = Route(paths=["/"])


@dataclass
class Result:
    """What the handler did: `status` 200 means it let the request through (then `ctx` shows the upstream request)."""

    status: int
    ctx: Context
    body: Any = None
    headers: dict[str, str] | None = None

    @property
    def upstream(self) -> Headers:
        return self.ctx.request.headers

    @property
    def description(self) -> str:
        return (self.headers or {}).get("WWW-Authenticate", "")


class Gateway:
    """One plugin instance over a PluginEnv that can be shared (as across config reloads)."""

    def __init__(self, config: dict[str, Any], env: PluginEnv | None = None,
                 consumers: Sequence[Consumer] = ()) -> None:
        self.env = env or PluginEnv()
        self.handler = OpenIDConnectHandler(OpenIDConnectHandler.validate_config(config), self.env)
        self.consumers = ConsumerIndex(list(consumers))

    async def call(self, headers: Sequence[tuple[str, str]] = (), query: str = "", body: bytes | None = None,
                   method: str = "GET") -> Result:
        async def read_body(limit: int) -> bytes:
            return body or b""

        request = Request(method, "/orders", query, Headers(list(headers)), scheme="http", host="gw", port=8000,
                          client_ip="127.0.0.1", body_reader=read_body)
        ctx = Context(request, ROUTE, None, self.consumers)
        try:
            await self.handler.access(ctx)
        except PluginExit as exit_:
            return Result(exit_.status, ctx, exit_.body, exit_.headers)
        return Result(200, ctx)

    async def basic(self, client_id: str, secret: str) -> Result:
        return await self.call([("Authorization", basic_authorization(client_id, secret))])

    async def bearer(self, token: str) -> Result:
        return await self.call([("Authorization", f"Bearer {token}")])

    async def close(self) -> None:
        await self.env.close()
