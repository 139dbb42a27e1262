"""Running a route's plugins around an exchange: the PDK request, rewrite/access, `read_body`, the
response phase (the upstream's response is held until it ran) and the log phase (after the response
was sent, in a task that never delays the client).

Only routes with plugins come here; everything is built lazily from what the fast path already parsed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from oidcgate.plugins.pdk import Context, Headers, PluginExit, Request, Response
from oidcgate.proxy import errors
from oidcgate.proxy.headers import OWNED_BY_PROXY, RESPONSE_SPECIAL
from oidcgate.proxy.modes import CHUNK, LENGTH, PAUSE_BUFFER, TO_DISCARD

if TYPE_CHECKING:
    from oidcgate.proxy.exchange import Exchange

log = logging.getLogger("oidcgate.proxy")


def build_request(exchange: Exchange) -> tuple[Request, list[tuple[str, str]]]:
    """The PDK request, and a copy of its headers to tell later whether a plugin changed them."""
    fields = exchange.fields
    items = [(fields[i].decode("latin-1"), fields[i + 2].decode("latin-1")) for i in range(0, len(fields), 4)]
    if exchange.xff is not None:
        items.append(("X-Forwarded-For", exchange.xff.decode("latin-1")))
    for name, value in (exchange.xf or {}).items():
        items.append((name.decode(), value.decode("latin-1")))
    if exchange.via is not None:
        items.append(("Via", exchange.via.decode("latin-1")))
    conn = exchange.conn
    return Request(exchange.method.decode(), exchange.path.decode("latin-1"), exchange.query[1:].decode("latin-1"),
                   Headers(items), scheme="http", host=exchange.host_name.decode("latin-1"),
                   port=conn.listener.number, client_ip=conn.ip_text,
                   http_version="1.1" if exchange.http11 else "1.0",
                   body_reader=lambda limit: read_body(exchange, limit)), items[:]


async def before_proxy(exchange: Exchange) -> None:
    """rewrite + access, then forward (or answer what a plugin decided)."""
    route = exchange.route
    service = route.service  # type: ignore[union-attr]
    request, received = build_request(exchange)
    ctx = exchange.ctx = Context(request, route.entity, service.entity if service else None,  # type: ignore[union-attr]
                                 exchange.runtime.consumers)  # type: ignore[union-attr]
    matcher, found = exchange.match  # type: ignore[misc]
    if found is not None:
        ctx.shared["uri_captures"] = matcher.captures(found)  # Kong's named groups of a regex path
    try:
        await route.chain.before_proxy(ctx, exchange.chosen)  # type: ignore[union-attr,arg-type]
    except PluginExit as exc:
        exchange.task = None
        exit_response(exchange, exc)
        return
    except Exception:
        exchange.task = None
        log.exception("plugin failed on route %s", route.name)  # type: ignore[union-attr]
        exchange.respond_error(500, errors.UNEXPECTED)
        return
    exchange.task = None
    if exchange.finished:
        return
    apply_request(exchange, ctx.request, received)
    if ctx.upstream_path is not None:
        exchange.upstream_path = ctx.upstream_path.encode("latin-1")
    exchange.forward()


def apply_request(exchange: Exchange, request: Request, received: list[tuple[str, str]]) -> None:
    """Take the method, query, headers and buffered body the plugins may have changed.

    A `Host` header set by a plugin becomes the upstream Host; the fields the proxy owns (framing,
    X-Forwarded-*, Via, hop-by-hop) are regenerated whatever a plugin did to them. Headers no plugin
    touched (`received`) are forwarded from the bytes already parsed.
    """
    exchange.method = request.method.encode()
    query = request.query_string
    exchange.query = b"?" + query.encode("latin-1") if query else b""
    if request.headers.items() != received:
        fields: list[bytes] = []
        for name, value in request.headers.items():
            lname = name.lower()
            if lname == "host":
                exchange.upstream_host = value.encode("latin-1")
            elif lname not in OWNED_BY_PROXY and not lname.startswith("proxy-"):
                fields += (name.encode("latin-1"), b": ", value.encode("latin-1"), b"\r\n")
        exchange.fields = fields
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
    """`ctx.request.read_body(limit)`: buffer the whole body, 413 above `limit`."""
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
    ctx.response = Response(exc.status, Headers(list(headers)), source="exit")
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


def _items(fields: list[bytes]) -> list[tuple[str, str]]:
    return [(fields[i].decode("latin-1"), fields[i + 2].decode("latin-1")) for i in range(0, len(fields), 4)]


def hold_response(exchange: Exchange, status: int, fields: list[bytes], length: bytes | None, chunked: bool,
                  received_via: bytes | None) -> None:
    """Keep the response (and stop reading the upstream) until the response phase has run."""
    exchange.ctx.response = Response(status, Headers(_items(fields)))  # type: ignore[union-attr]
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
    fields: list[bytes] = []
    for name, value in response.headers.items():  # type: ignore[union-attr]
        if name.lower().encode() not in RESPONSE_SPECIAL:
            fields += (name.encode("latin-1", "replace"), b": ", value.encode("latin-1", "replace"), b"\r\n")
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
    exchange.ctx.response = Response(status, Headers(_items(fields)))  # type: ignore[union-attr]


def log_phase(exchange: Exchange) -> None:
    """Schedule the log phase (after the response was written) and release the runtime."""
    ctx, chosen = exchange.ctx, exchange.chosen
    exchange.chosen = None
    chain = exchange.route.chain if exchange.route is not None else None
    if ctx is not None and chosen and chain is not None and chain.has_log:
        if ctx.response is None:
            ctx.response = Response(exchange.status, Headers(), source="error")
        exchange.conn.state.spawn(chain.log(ctx, chosen))
    exchange.runtime.release()  # type: ignore[union-attr]
