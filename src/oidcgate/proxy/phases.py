"""A route's plugins around one exchange: rewrite and access (recorded decisions replayed, see
proxy.memo), then, once the upstream answered, the response phase (the response is held until it ran)
and the log phase (after the response was sent; it never delays the client).

Each phase is one coroutine run in the caller's stack (proxy.eager): a plugin that does not wait
costs no task. The exchange is reached only through `Host`.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from oidcgate.http.fields import HeaderFields
from oidcgate.plugins.pdk import Context, Headers, PluginExit, Recording, Response, ServiceRequest
from oidcgate.proxy import errors
from oidcgate.proxy.eager import run_eagerly
from oidcgate.proxy.memo import NOBODY, Inputs, Recent, Who

if TYPE_CHECKING:
    import asyncio

    from oidcgate.plugins.base import Plugin
    from oidcgate.proxy.pipeline import Chain, Step

log = logging.getLogger("oidcgate.proxy")


class Host(Protocol):
    """What the plugins' run needs of its exchange."""

    @property
    def finished(self) -> bool: ...

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]: ...

    def proceed(self, upstream: ServiceRequest | None) -> None:
        """Forward the request, with what the plugins changed (None: nothing)."""

    def respond(self, status: int, body: bytes, content_type: bytes | None,
                headers: list[tuple[str, str]] | None) -> None:
        """Answer with a response of the proxy's own."""

    def respond_error(self, status: int, message: str) -> None: ...

    def release_response(self, status: int, fields: HeaderFields) -> None:
        """Send the held upstream response with this status and these fields."""


def replay(chain: Chain, request: Inputs, fields: HeaderFields, recent: Recent) -> tuple[HeaderFields, Who] | None:
    """Every access decision of a `replayable` chain for this request, recorded before: `fields` (those
    going upstream) as they edited them, and who they attached. None when one is not recorded: the
    plugins then run (PluginRun). No Context, no coroutine: a dict probe (or a comparison with what the
    connection's previous request took: `recent`, see Memo.recall) and the edits per plugin."""
    who = NOBODY
    for at, memo in enumerate(chain.replay_memos):
        key = memo.key(request, who)
        decision = memo.recall(key, recent, at) if key is not None else None
        if decision is None:
            return None
        fields = decision.applied(fields)
        if decision.who is not None:
            who = decision.who
    return fields, who


class PluginRun:
    """The plugins of one request: who runs, their context, and the task of a phase that waits."""

    __slots__ = ("chain", "chosen", "ctx", "host", "inputs", "task", "trace")

    def __init__(self, host: Host, inputs: Inputs, chain: Chain, ctx: Context, trace: Any = None) -> None:
        self.host = host
        self.inputs = inputs
        self.chain = chain
        self.ctx = ctx
        self.trace = trace  # a traced request's (plugins.opentelemetry): each phase is a span, nothing replayed
        self.chosen: list[tuple[Plugin, frozenset[str]]] | tuple[tuple[Plugin, frozenset[str]], ...] = (
            chain.fixed if chain.fixed is not None else [])
        self.task: asyncio.Task[Any] | None = None

    # ---- rewrite and access ----------------------------------------------------------------------
    def start(self) -> None:
        self.task = run_eagerly(self._before_proxy(), self.host.spawn)

    async def _before_proxy(self) -> None:
        ctx = self.ctx
        chain = self.chain
        chosen = self.chosen
        steps: Iterable[Step] = chain.fixed_steps if isinstance(chosen, tuple) else chain.steps(ctx, chosen)
        try:
            for step in steps:
                memo = step.memo
                if self.trace is not None:
                    await self.trace.phase(step.run, ctx)
                    continue
                if memo is None or (key := memo.key(self.inputs, ctx.attached())) is None:
                    await step.run(ctx)
                    continue
                decision = memo.lookup(key)
                if decision is not None:
                    decision.replay(ctx)
                    continue
                ctx.recording = recording = Recording()
                await step.run(ctx)
                ctx.recording = None
                memo.keep(key, recording)
        except Exception as exc:
            ctx.recording = None
            self.task = None
            self._failed(exc)
            return
        self.task = None
        if not self.host.finished:
            self.host.proceed(ctx.service_request_if_used())

    def _failed(self, exc: Exception) -> None:
        """A plugin ended the request (PluginExit: its answer) or failed (500, logged with its traceback)."""
        chosen = self.chosen
        if isinstance(chosen, list):
            self.chain.choose_rest(self.ctx, chosen)
        if isinstance(exc, PluginExit):
            self.exit(exc)
            return
        log.error("plugin failed on route %s", self.ctx.route.name or self.ctx.route.id, exc_info=exc)
        self.host.respond_error(500, errors.UNEXPECTED)

    def exit(self, exc: PluginExit, *, response_phase: bool = True) -> None:
        """A plugin's `ctx.exit(...)`: Kong's body rules (dict/list as JSON), the plugin's headers and
        those added in the access phase. As in Kong, the chosen plugins' response phase runs on such an
        answer too (correlation-id puts its id on a 401), unless the exit came from that phase."""
        body, content_type = errors.exit_body(exc.body)
        headers = [*exc.headers.items(), *self.ctx.response_header_items()]
        if any(name.lower() == "content-type" for name, _ in headers):
            content_type = None
        try:
            self.ctx.response = Response(exc.status, Headers(headers), source="exit")
        except ValueError:  # a header that cannot go on the wire
            log.exception("plugin answered with an invalid header on route %s", self.ctx.route.name)
            self.host.respond_error(500, errors.UNEXPECTED)
            return
        if response_phase and self.chain.has_response and self.chosen:
            self.task = run_eagerly(self._exit_after_response_phase(body, content_type), self.host.spawn)
        else:
            self.host.respond(exc.status, body, content_type, headers)

    async def _exit_after_response_phase(self, body: bytes, content_type: bytes | None) -> None:
        response = self.ctx.response
        assert response is not None
        try:
            await self.chain.response(self.ctx, self.chosen, self.trace)
        except Exception:  # an exit or a failure here: the plugin's first answer stands
            log.exception("plugin failed in the response phase of an early answer on route %s",
                          self.ctx.route.name)
        self.task = None
        self.host.respond(response.status, body, content_type, response.headers.items())

    # ---- response --------------------------------------------------------------------------------
    def hold_response(self, status: int, fields: HeaderFields) -> None:
        """The upstream's response head arrived: run the response phase, then release it (edited)."""
        self.ctx.response = Response(status, Headers.over(fields))
        self.task = run_eagerly(self._response_phase(), self.host.spawn)

    async def _response_phase(self) -> None:
        ctx = self.ctx
        response = ctx.response
        assert response is not None
        try:
            await self.chain.response(ctx, self.chosen, self.trace)
        except Exception as exc:
            self.task = None
            if isinstance(exc, PluginExit):
                self.exit(exc, response_phase=False)
            else:
                log.exception("plugin failed in the response phase on route %s", ctx.route.name)
                self.host.respond_error(500, errors.UNEXPECTED)
            return
        self.task = None
        if not self.host.finished:
            self.host.release_response(response.status, response.headers.fields)

    def remember_response(self, status: int, fields: HeaderFields) -> None:
        """For log plugins: the response's status and headers (the response goes out unchanged)."""
        self.ctx.response = Response(status, Headers.over(fields))

    # ---- the end ---------------------------------------------------------------------------------
    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None

    def finish(self, status: int) -> None:
        """The response was sent (or the exchange ended without one): run the log phase, if any."""
        ctx, chosen = self.ctx, self.chosen
        if chosen and self.chain.has_log:
            if ctx.response is None:
                ctx.response = Response(status, Headers(), source="error")
            run_eagerly(self.chain.log(ctx, chosen), self.host.spawn)
