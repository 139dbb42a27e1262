"""Call the plugin's handler as the data plane does: a validated config, a PluginEnv, a pdk.Context per request."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from oidcgate.config.entities import Consumer, ConsumerGroup, Route
from oidcgate.http.fields import HeaderFields
from oidcgate.plugins.openid_connect.client_auth import basic_authorization
from oidcgate.plugins.openid_connect.discovery import Provider
from oidcgate.plugins.openid_connect.handler import OpenIDConnectHandler
from oidcgate.plugins.pdk import (
    ConsumerIndex,
    Context,
    HeaderView,
    PluginEnv,
    PluginExit,
    Recording,
    Request,
)
from oidcgate.proxy.eager import run_eagerly
from oidcgate.proxy.memo import Memo, Recent
from oidcgate.proxy.modes import LENGTH, NO_BODY

ROUTE = Route(paths=["/"])


@dataclass
class Sent:
    """A request as the data plane's parser hands it to the memo (proxy.memo.Inputs)."""

    method: bytes
    path: bytes
    query: bytes
    fields: HeaderFields
    body_mode: int


@dataclass
class Result:
    """What the handler did: `status` 200 means it let the request through (then `ctx` shows the upstream request)."""

    status: int
    ctx: Context
    body: Any = None
    headers: dict[str, str] | None = None

    @property
    def upstream(self) -> HeaderView:
        """What goes upstream."""
        return self.ctx.service_request.headers

    @property
    def description(self) -> str:
        return (self.headers or {}).get("WWW-Authenticate", "")


async def eagerly(coro: Coroutine[Any, Any, None]) -> None:
    """Run a phase as the data plane does (proxy.eager.run_eagerly): started outside any task, from a callback of
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
            task = run_eagerly(coro, asyncio.ensure_future)
        except BaseException as exc:
            done.set_exception(exc)
            return
        if task is None:
            done.set_result(None)
        else:
            task.add_done_callback(finish)

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
        self.memo = Memo(self.handler.memo_inputs())  # what the data plane keeps for this instance
        self.recent: Recent = []  # what one keep-alive connection's previous request took (see Memo.recall)

    @property
    def provider(self) -> Provider:
        """The provider this instance shares with the others of its env (its `clock` can be replaced)."""
        return self.handler.flows.provider

    async def call(self, headers: Sequence[tuple[str, str]] = (), query: str = "", body: bytes | None = None,
                   method: str = "GET", client_ip: str = "127.0.0.1",
                   authenticated: tuple[Consumer | None, dict[str, Any]] | None = None) -> Result:
        """The full path, as the data plane runs it for a request it has no recorded decision for: the
        handler's access phase, recorded (see proxy.memo); `authenticated`: what an earlier
        authentication plugin attached (consumer, credential)."""
        async def read_body(limit: int) -> bytes:
            return body or b""

        request = Request(method, "/orders", query, HeaderView(headers), scheme="http", host="gw", port=8000,
                          client_ip=client_ip, body_reader=read_body)
        ctx = Context(request, ROUTE, None, self.consumers)
        if authenticated is not None:
            ctx.authenticate(*authenticated)
        key = self.memo.key(self._sent(headers, query, method, body), ctx.attached())
        ctx.recording = recording = Recording()
        try:
            await eagerly(self.handler.access(ctx))
        except PluginExit as exit_:
            return Result(exit_.status, ctx, exit_.body, exit_.headers)
        finally:
            ctx.recording = None
        if key is not None:
            self.memo.keep(key, recording)
        return Result(200, ctx)

    def fast(self, headers: Sequence[tuple[str, str]] = (), query: str = "", method: str = "GET",
             body: bytes | None = None) -> Context | None:
        """The data plane's fast path for such a request: the recorded decision replayed (the handler does
        not run), or None when the full path must decide. The requests `fast` sees share one keep-alive
        connection: a repeat takes its previous decision again when it still holds."""
        request = Request(method, "/orders", query, HeaderView(headers), scheme="http", host="gw", port=8000,
                          client_ip="127.0.0.1")
        ctx = Context(request, ROUTE, None, self.consumers)
        key = self.memo.key(self._sent(headers, query, method, body), ctx.attached())
        decision = self.memo.recall(key, self.recent, 0) if key is not None else None
        if decision is None:
            return None
        decision.replay(ctx)
        return ctx

    @staticmethod
    def _sent(headers: Sequence[tuple[str, str]], query: str, method: str, body: bytes | None) -> Sent:
        return Sent(method.encode(), b"/orders", b"?" + query.encode() if query else b"", HeaderFields.of(headers),
                    NO_BODY if body is None else LENGTH)

    async def basic(self, client_id: str, secret: str, client_ip: str = "127.0.0.1") -> Result:
        return await self.call([("Authorization", basic_authorization(client_id, secret))], client_ip=client_ip)

    async def bearer(self, token: str) -> Result:
        return await self.call([("Authorization", f"Bearer {token}")])

    async def close(self) -> None:
        await self.env.close()
