"""Running a route's plugins around an exchange: the PDK request, rewrite/access, `read_body`, the
response phase (the upstream's response is held until it ran) and the log phase (after the response
was sent, in a task that never delays the client).

Only routes with plugins come here; everything is built lazily from what the fast path already parsed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any

from oidcgate.plugins.pdk import Context, Headers, Known, PluginExit, RawRequest, Request, Response
from oidcgate.proxy import errors
from oidcgate.proxy.headers import RESPONSE_SPECIAL, drop_named, drop_owned, owns_any
from oidcgate.proxy.modes import CHUNK, LENGTH, PAUSE_BUFFER, TO_DISCARD
from oidcgate.proxy.state import Resumed

if TYPE_CHECKING:
    from oidcgate.plugins.base import Plugin
    from oidcgate.proxy.exchange import Exchange
    from oidcgate.proxy.pipeline import Step

log = logging.getLogger("oidcgate.proxy")
RESPONSE_OWNED = frozenset(RESPONSE_SPECIAL)  # framing and hop-by-hop: the proxy writes its own


def take_shortcuts(exchange: Exchange, shortcuts: tuple[Callable[[RawRequest], Known | None], ...]) -> bool:
    """Forward with the plugins' Known answers, if every one of them has one (see Plugin.shortcut).

    No Context, no decoding, no coroutine: the answers were computed by an earlier request. False (and
    nothing changed) when any plugin wants its phases, or a shortcut failed (logged).
    """
    answers: list[Known] = []
    try:
        for shortcut in shortcuts:
            known = shortcut(exchange)
            if known is None:
                return False
            answers.append(known)
    except Exception:
        log.exception("a plugin's shortcut failed on route %s; its phases run", exchange.route.name)  # type: ignore[union-attr]
        return False
    fields = exchange.fields
    for known in answers:
        added = known.all_fields()
        if added:
            fields += added
        if known.authorization is not None:
            at = exchange.auth_at - 2  # (auth_at is where the value is)
            fields[at:at + 4] = known.authorization
        if known.consumer is not None:
            exchange.consumer = known.consumer
    exchange.forward()
    return True


def build_request(exchange: Exchange) -> Request:
    """The PDK request over what the fast path parsed: its headers wrap the parsed fields (no copy), its
    text is decoded from the exchange when a plugin reads it (Exchange.request_text)."""
    if exchange.xff is None and exchange.xf is None and exchange.via is None:
        headers = Headers.wrap(exchange.fields)
    else:  # fields the proxy owns and writes itself: shown to plugins, then dropped as if a plugin added them
        headers = Headers.wrap(list(exchange.fields))
        if exchange.xff is not None:
            headers.add_fields((b"X-Forwarded-For", b": ", exchange.xff, b"\r\n"))
        for name, value in (exchange.xf or {}).items():
            headers.add_fields((name, b": ", value, b"\r\n"))
        if exchange.via is not None:
            headers.add_fields((b"Via", b": ", exchange.via, b"\r\n"))
    return Request.of(exchange, headers)


def before_proxy(exchange: Exchange) -> None:
    """rewrite + access, then forward (or answer what a plugin decided).

    The plugins' coroutines are driven here, in the caller's stack: one that completes without waiting
    (a cached token) costs no task. The first one that really waits (a provider call) continues in a
    task, which then drives the remaining steps the same way.
    """
    route = exchange.route
    chain = route.chain  # type: ignore[union-attr]
    service = route.service  # type: ignore[union-attr]
    ctx = exchange.ctx = Context(build_request(exchange), route.entity, service.entity if service else None,  # type: ignore[union-attr]
                                 exchange.runtime.consumers)  # type: ignore[union-attr]
    matcher, found = exchange.match  # type: ignore[misc]
    if found is not None:
        ctx.shared["uri_captures"] = matcher.captures(found)  # Kong's named groups of a regex path
    if chain.fixed is not None:  # type: ignore[union-attr]
        exchange.chosen = chain.fixed  # type: ignore[union-attr]
        drive(exchange, iter(chain.fixed_steps))  # type: ignore[union-attr]
    else:
        chosen: list[tuple[Plugin, frozenset[str]]] = []
        exchange.chosen = chosen
        drive(exchange, chain.steps(ctx, chosen))  # type: ignore[union-attr]


def drive(exchange: Exchange, steps: Iterator[Step]) -> None:
    """Run the remaining steps eagerly; the first that waits continues in a task (see before_proxy)."""
    ctx = exchange.ctx
    for step in steps:
        coro = step(ctx)  # type: ignore[arg-type]
        try:
            waiting = coro.send(None)
        except StopIteration:
            continue
        except Exception as exc:
            plugin_failed(exchange, exc)
            return
        exchange.task = exchange.conn.state.spawn(_after_wait(exchange, coro, waiting, steps))
        return
    proxy(exchange)


async def _after_wait(exchange: Exchange, coro: Coroutine[Any, Any, None], waiting: Any,
                      steps: Iterator[Step]) -> None:
    try:
        await Resumed(coro, waiting)
    except Exception as exc:
        exchange.task = None
        plugin_failed(exchange, exc)
        return
    exchange.task = None
    drive(exchange, steps)


def plugin_failed(exchange: Exchange, exc: Exception) -> None:
    """A plugin ended the request (PluginExit: its answer) or failed (500, logged with its traceback)."""
    chosen = exchange.chosen
    if isinstance(chosen, list):
        exchange.route.chain.choose_rest(exchange.ctx, chosen)  # type: ignore[union-attr,arg-type]
    if isinstance(exc, PluginExit):
        exit_response(exchange, exc)
        return
    log.error("plugin failed on route %s", exchange.route.name, exc_info=exc)  # type: ignore[union-attr]
    exchange.respond_error(500, errors.UNEXPECTED)


def proxy(exchange: Exchange) -> None:
    """Forward the request as the plugins left it."""
    if exchange.finished:
        return
    ctx = exchange.ctx
    apply_request(exchange, ctx.request)  # type: ignore[union-attr]
    if ctx.upstream_path is not None:  # type: ignore[union-attr]
        exchange.upstream_path = ctx.upstream_path.encode("latin-1")  # type: ignore[union-attr]
    exchange.forward()


def apply_request(exchange: Exchange, request: Request) -> None:
    """Take the method, query, headers and buffered body the plugins may have changed.

    A `Host` header set by a plugin becomes the upstream Host; the fields the proxy owns (framing,
    X-Forwarded-*, Via, hop-by-hop) are regenerated whatever a plugin did to them. Unchanged headers
    are the parsed fields themselves and are forwarded as they are.
    """
    if request.line_changed():
        exchange.method = request.method.encode()
        query = request.query_string
        exchange.query = b"?" + query.encode("latin-1") if query else b""
    headers = request.headers
    if headers.changed:
        added = headers.added  # (the parsed fields hold none the proxy owns: only new ones may)
        if added is None or owns_any(added):
            exchange.fields, host = drop_owned(headers.fields)
            if host is not None:
                exchange.upstream_host = host
        else:
            exchange.fields = headers.fields
    if request.body is not None:
        exchange.pending = [request.body] if request.body else []
        exchange.pending_size = len(request.body)
        exchange.body_mode = LENGTH
        exchange.content_length = len(request.body)
        exchange.body_fixed = True
        if not exchange.request_done:  # a body replaced before it was read: drop the client's
            exchange.sink = TO_DISCARD
            exchange.keep_alive = False


async def read_body(exchange: Exchange, limit: int) -> bytes:
    """`ctx.request.read_body(limit)` (through Exchange.read_body): buffer the whole body, 413 above `limit`."""
    if not exchange.request_done:
        conn = exchange.conn
        if exchange.expect_continue and not exchange.continue_sent:
            exchange.continue_sent = True
            conn.transport.write(errors.CONTINUE)
        exchange.body_limit = limit
        waiter = exchange.body_waiter = conn.state.loop.create_future()
        conn.resume(PAUSE_BUFFER)
        body_arrived(exchange)
        try:
            await waiter
        finally:
            exchange.body_waiter = None
    if exchange.pending_size > limit:
        exchange.keep_alive = False
        raise PluginExit(413, {"message": errors.TOO_LARGE})
    body = b"".join(exchange.pending)
    exchange.pending = ()
    exchange.pending_size = 0
    return body


def body_arrived(exchange: Exchange) -> bool:
    """Body bytes arrived while a plugin may be waiting in read_body; True if one is."""
    waiter = exchange.body_waiter
    if waiter is None:
        return False
    if (exchange.request_done or exchange.pending_size > exchange.body_limit) and not waiter.done():
        waiter.set_result(None)
    return True


def cancel_body_wait(exchange: Exchange) -> None:
    waiter = exchange.body_waiter
    if waiter is not None and not waiter.done():
        waiter.cancel()


def exit_response(exchange: Exchange, exc: PluginExit, *, response_phase: bool = True) -> None:
    """A plugin's `ctx.exit(...)`: Kong's body rules (dict/list as JSON), the plugin's headers.

    As in Kong, the chosen plugins' response phase runs on such an answer too (correlation-id puts
    its id on a 401), unless the exit came from the response phase itself.
    """
    body, content_type = errors.exit_body(exc.body)
    headers = list(exc.headers.items())
    if any(name.lower() == "content-type" for name, _ in headers):
        content_type = None
    ctx, chain = exchange.ctx, exchange.route.chain if exchange.route is not None else None
    if ctx is None:
        exchange.respond(exc.status, body, content_type, headers)
        return
    try:
        ctx.response = Response(exc.status, Headers(headers), source="exit")
    except ValueError:  # a header that cannot go on the wire
        log.exception("plugin answered with an invalid header on route %s", exchange.route.name)  # type: ignore[union-attr]
        exchange.respond_error(500, errors.UNEXPECTED)
        return
    if response_phase and chain is not None and chain.has_response and exchange.chosen:
        exchange.task = exchange.conn.state.run_eagerly(_exit_after_response_phase(exchange, body, content_type))
    else:
        exchange.respond(exc.status, body, content_type, headers)


async def _exit_after_response_phase(exchange: Exchange, body: bytes, content_type: bytes | None) -> None:
    ctx = exchange.ctx
    assert ctx is not None and ctx.response is not None
    try:
        await exchange.route.chain.response(ctx, exchange.chosen)  # type: ignore[union-attr,arg-type]
    except Exception:  # an exit or a failure here: the plugin's first answer stands
        log.exception("plugin failed in the response phase of an early answer on route %s",
                      exchange.route.name)  # type: ignore[union-attr]
    exchange.task = None
    response = ctx.response
    exchange.respond(response.status, body, content_type, list(response.headers.items()))


def hold_response(exchange: Exchange, status: int, fields: list[bytes], length: bytes | None, chunked: bool,
                  received_via: bytes | None) -> None:
    """Keep the response (and stop reading the upstream) until the response phase has run."""
    exchange.ctx.response = Response(status, Headers.wrap(fields))  # type: ignore[union-attr]
    exchange.held = []
    if exchange.upstream is not None:
        exchange.upstream.transport.pause_reading()
    exchange.task = exchange.conn.state.run_eagerly(run_response(exchange, length, chunked, received_via))


async def run_response(exchange: Exchange, length: bytes | None, chunked: bool, received_via: bytes | None) -> None:
    ctx = exchange.ctx
    try:
        await exchange.route.chain.response(ctx, exchange.chosen)  # type: ignore[union-attr,arg-type]
    except Exception as exc:
        exchange.task = None
        if isinstance(exc, PluginExit):
            exit_response(exchange, exc, response_phase=False)
        else:
            log.exception("plugin failed in the response phase on route %s", exchange.route.name)  # type: ignore[union-attr]
            exchange.respond_error(500, errors.UNEXPECTED)
        return
    exchange.task = None
    if exchange.finished:
        return
    response = ctx.response  # type: ignore[union-attr]
    exchange.status = response.status  # type: ignore[union-attr]
    headers = response.headers  # type: ignore[union-attr]
    fields = drop_named(headers.fields, RESPONSE_OWNED) if headers.changed else headers.fields
    held, exchange.held = exchange.held or [], None
    exchange.out = [exchange.finish_head(fields, response.status, length, chunked, received_via), *held]  # type: ignore[union-attr]
    if exchange.response_complete:
        if exchange.resp_mode == CHUNK:
            exchange.out.append(b"0\r\n\r\n")
        exchange.flush_down()
        exchange.complete()
        return
    exchange.flush_down()
    if exchange.upstream is not None:
        exchange.upstream.transport.resume_reading()


def remember_response(exchange: Exchange, status: int, fields: list[bytes]) -> None:
    """For log plugins: the response's status and headers (the response itself goes out unchanged)."""
    exchange.ctx.response = Response(status, Headers.wrap(fields))  # type: ignore[union-attr]


def log_phase(exchange: Exchange) -> None:
    """Schedule the log phase (after the response was written) and release the runtime.

    The exchange lets go of the context here (keeping the consumer for the access log): the context's
    request refers back to the exchange, and no cycle may outlive a request.
    """
    ctx, chosen = exchange.ctx, exchange.chosen
    exchange.chosen = exchange.ctx = None
    if ctx is not None and ctx.consumer is not None:
        exchange.consumer = ctx.consumer
    chain = exchange.route.chain if exchange.route is not None else None
    if ctx is not None and chosen and chain is not None and chain.has_log:
        if ctx.response is None:
            ctx.response = Response(exchange.status, Headers(), source="error")
        exchange.conn.state.spawn(chain.log(ctx, chosen))
    exchange.runtime.release()  # type: ignore[union-attr]
