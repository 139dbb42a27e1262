"""Call the plugin's handler as the data plane does: a validated config, a PluginEnv, a pdk.Context per request."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from oidcgate.config.entities import Consumer, ConsumerGroup, Route
from oidcgate.plugins.openid_connect.client_auth import basic_authorization
from oidcgate.plugins.openid_connect.discovery import Provider
from oidcgate.plugins.openid_connect.handler import OpenIDConnectHandler
from oidcgate.plugins.pdk import (
    ConsumerIndex,
    Context,
    Headers,
    Known,
    PluginEnv,
    PluginExit,
    Request,
    encode_field,
)
from oidcgate.proxy.state import Resumed

ROUTE = Route(paths=["/"])


@dataclass
class Parsed:
    """A RawRequest as the data plane's parser hands it to a shortcut."""

    fields: list[bytes]
    query: bytes
    authorization: bytes | None = None

    def __post_init__(self) -> None:
        values = [self.fields[i + 2] for i in range(0, len(self.fields), 4) if self.fields[i].lower() == b"authorization"]
        self.authorization = values[0] if len(values) == 1 else None


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


async def eagerly(coro: Coroutine[Any, Any, None]) -> None:
    """Run a phase as the data plane does (proxy.phases.drive): started outside any task, from a callback of
    the loop, and handed to a task only once it waits; so code that needs a task (asyncio.timeout) fails here
    as it would there."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def finish(task: asyncio.Future[Any]) -> None:
        if task.cancelled():
            done.cancel()
        elif (exc := task.exception()) is not None:
            done.set_exception(exc)
        else:
            done.set_result(None)

    def start() -> None:
        try:
            waiting = coro.send(None)
        except StopIteration:
            done.set_result(None)
        except BaseException as exc:
            done.set_exception(exc)
        else:
            asyncio.ensure_future(Resumed(coro, waiting)).add_done_callback(finish)

    loop.call_soon(start)
    await done


class Gateway:
    """One plugin instance over a PluginEnv that can be shared (as across config reloads)."""

    def __init__(self, config: dict[str, Any], env: PluginEnv | None = None,
                 consumers: Sequence[Consumer] = (), clock: Callable[[], float] | None = None,
                 groups: Sequence[ConsumerGroup] = ()) -> None:
        self.env = env or PluginEnv()
        self.handler = OpenIDConnectHandler(OpenIDConnectHandler.validate_config(config), self.env,
                                            **({"clock": clock} if clock else {}))
        self.consumers = ConsumerIndex(list(consumers), groups)

    @property
    def provider(self) -> Provider:
        """The provider this instance shares with the others of its env (its `clock` can be replaced)."""
        return self.handler.flows.provider

    async def call(self, headers: Sequence[tuple[str, str]] = (), query: str = "", body: bytes | None = None,
                   method: str = "GET", client_ip: str = "127.0.0.1",
                   authenticated: tuple[Consumer | None, dict[str, Any]] | None = None) -> Result:
        """One request; `authenticated`: what an earlier authentication plugin attached (consumer, credential)."""
        async def read_body(limit: int) -> bytes:
            return body or b""

        request = Request(method, "/orders", query, Headers(list(headers)), scheme="http", host="gw", port=8000,
                          client_ip=client_ip, body_reader=read_body)
        ctx = Context(request, ROUTE, None, self.consumers)
        if authenticated is not None:
            ctx.authenticate(*authenticated)
        try:
            await eagerly(self.handler.access(ctx))
        except PluginExit as exit_:
            return Result(exit_.status, ctx, exit_.body, exit_.headers)
        return Result(200, ctx)

    def shortcut(self, headers: Sequence[tuple[str, str]] = (), query: str = "") -> tuple[Known | None, list[bytes]]:
        """The shortcut's answer for such a request, and its fields as the data plane would forward them."""
        fields = [part for name, value in headers for part in encode_field(name, value)]
        parsed = Parsed(list(fields), b"?" + query.encode() if query else b"")
        known = self.handler.shortcut(parsed)
        if known is not None:
            if known.authorization is not None:
                at = 4 * [name.lower() for name in fields[::4]].index(b"authorization")
                fields[at:at + 4] = known.authorization
            fields += known.all_fields()
        return known, fields

    async def basic(self, client_id: str, secret: str, client_ip: str = "127.0.0.1") -> Result:
        return await self.call([("Authorization", basic_authorization(client_id, secret))], client_ip=client_ip)

    async def bearer(self, token: str) -> Result:
        return await self.call([("Authorization", f"Bearer {token}")])

    async def close(self) -> None:
        await self.env.close()
