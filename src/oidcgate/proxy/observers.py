"""The data plane's side of observer plugins (plugins.observer): the prometheus, file-log, http-log and
opentelemetry instances of each route, chosen once per snapshot, and the calls into them.

The request path reaches them through small hooks, each a line or two where it sits:
  - server.on_headers_complete, once a route matched: `begin_trace` (the route's tracing instance
    decides; its `traceparent` replaces the client's in the fields sent upstream);
  - Exchange._record, when the response went out: the route's `observe(exchange, end)`, built here
    (`Runtime.unmatched` for requests that matched no route);
  - what a log entry needs that the fast path does not keep, only on routes an observer logs
    (`RouteRuntime.logged`): Exchange._head keeps the path sent upstream, Exchange.on_response_head the
    response's fields, phases.log_phase and phases.take_shortcuts the credential and log fields;
    Exchange.upstream_failed notes failed tries;
  - phases.drive and pipeline.Chain.response run a traced request's plugin phases through
    `exchange.trace.phase` (a span each).
Everything else (what is counted, serialized, sent) is in the plugins.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from oidcgate.plugins.log_serializer import Finished
from oidcgate.plugins.observer import Observer, Recorder, RouteInfo

if TYPE_CHECKING:
    from oidcgate.plugins.pdk import ConsumerIndex
    from oidcgate.proxy.exchange import Exchange
    from oidcgate.proxy.pipeline import Slot

log = logging.getLogger("oidcgate.proxy.observers")
LOG_EVERY = 10.0
Observe = Callable[["Exchange", float], None]


class Observed:
    """A route's observers: recorders count, loggers get a Finished (built once per request).

    With instances scoped to consumers or consumer groups, each request picks its instance per plugin
    name (Kong's precedence, with the request's consumer), else the choice was made at compile time."""

    __slots__ = ("consumers", "loggers", "recorders", "scoped_recorders", "slots")

    def __init__(self, info: RouteInfo, slots: Sequence[Slot], consumers: ConsumerIndex) -> None:
        self.consumers = consumers
        self.slots = tuple(slots) if any(slot.scoped for slot in slots) else None
        chosen = [slot.default for slot in slots if isinstance(slot.default, Observer)] if self.slots is None else []
        self.recorders = tuple(r for instance in chosen if (r := instance.recorder(info)) is not None)
        self.loggers = tuple(instance for instance in chosen if type(instance).observes())
        self.scoped_recorders: dict[int, Recorder | None] = {}
        for slot in self.slots or ():
            for instance in _instances(slot):
                self.scoped_recorders[id(instance)] = instance.recorder(info)

    def fixed(self, exchange: Exchange, end: float) -> None:
        for record in self.recorders:
            record(exchange, end)
        if self.loggers:
            try:
                entry = finished(exchange, end)
                for logger in self.loggers:
                    logger.observe(entry)
            except Exception:  # a log or trace plugin's failure must not break the connection
                _failed()

    def picked(self, exchange: Exchange, end: float) -> None:
        entry = None
        consumer = exchange.consumer
        groups = self.consumers.group_ids(consumer.id if consumer is not None else None)  # (its configured ones)
        for slot in self.slots or ():
            instance = slot.pick(consumer, groups)
            if not isinstance(instance, Observer):
                continue
            record = self.scoped_recorders[id(instance)]
            if record is not None:
                record(exchange, end)
            if type(instance).observes():
                try:
                    entry = entry or finished(exchange, end)
                    instance.observe(entry)
                except Exception:
                    _failed()


_logged_at = -LOG_EVERY


def _failed() -> None:
    """Log an observer's failure, with its traceback, at most every LOG_EVERY seconds."""
    global _logged_at
    now = time.monotonic()
    if now - _logged_at >= LOG_EVERY:
        _logged_at = now
        log.exception("a log or trace plugin failed on a finished request (logged at most every %g s)", LOG_EVERY)


def _instances(slot: Slot) -> list[Observer]:
    """Every observer instance a slot may pick."""
    return [instance for instance in (slot.default, *(scoped.instance for scoped in slot.scoped))
            if isinstance(instance, Observer)]


def route_observe(info: RouteInfo, slots: Sequence[Slot], consumers: ConsumerIndex) -> Observe | None:
    """What a finished request on the route calls: None without observers, a prometheus recorder itself
    when that is all there is (the common case costs one call), else an Observed's method."""
    if not slots:
        return None
    observed = Observed(info, slots, consumers)
    if observed.slots is not None:
        return observed.picked
    if not observed.loggers and len(observed.recorders) <= 1:
        return observed.recorders[0] if observed.recorders else None
    return observed.fixed


def tracer_of(slots: Iterable[Slot]) -> Observer | None:
    """The instance that traces the route's requests (never a consumer-scoped one: plugins.observer)."""
    for slot in slots:
        if isinstance(slot.default, Observer) and type(slot.default).traces():
            return slot.default
    return None


def logs(slots: Iterable[Slot]) -> bool:
    """Whether an observer on the route logs its requests (so the proxy keeps their response fields,
    credential and log fields)."""
    return any(type(instance).observes() for slot in slots for instance in _instances(slot))


def begin_trace(exchange: Exchange, tracer: Observer) -> None:
    """The route's tracing instance decides; its fields (traceparent) replace the client's upstream."""
    fields = exchange.fields
    begun = tracer.begin(fields)
    if begun.trace is not None:
        exchange.trace = begun.trace
    replaces = begun.replaces
    for i in range(0, len(fields), 4):
        if fields[i].lower() in replaces:  # the client sent a field the tracer replaces or clears
            kept: list[bytes] = []
            for at in range(0, len(fields), 4):
                if fields[at].lower() not in replaces:
                    kept += fields[at:at + 4]
            fields[:] = kept  # in place: the list the exchange forwards
            if exchange.auth_at >= 0:  # where the Authorization value is now
                exchange.auth_at = next(at for at in range(2, len(fields), 4) if fields[at] is exchange.authorization)
            break
    fields += begun.fields


def finished(exchange: Exchange, end: float) -> Finished:
    """The Finished of an exchange: what it already holds, nothing decoded (positional: it is built for
    every request a log or trace plugin sees)."""
    t0, t_sent, t_head = exchange.t0, exchange.t_sent, exchange.t_head
    total = (end - t0) * 1000.0
    conn = exchange.conn
    route = exchange.route
    service = route.service if route is not None else None
    peer = exchange.peer
    tries: tuple[tuple[str, int, str | None], ...] = tuple(
        (p.address[0], p.address[1], kind) for p, kind in exchange.failed) if exchange.failed else ()
    if t_head and peer is not None:
        tries += ((peer.address[0], peer.address[1], None),)
    trace = exchange.trace
    path = exchange.upstream_path
    return Finished(
        t0 + conn.state.access_log.epoch_offset, total, (t_head - t_sent) * 1000.0 if t_head else -1.0,
        (t_sent - t0) * 1000.0 if t_head else total, conn.ip_text, exchange.method, exchange.raw_path, exchange.query,
        exchange.host_name, conn.listener.number, "1.1" if exchange.http11 else "1.0", exchange.fields,
        exchange.head_size() + exchange.bytes_in, exchange.status, exchange.response_fields if t_head else None,
        exchange.bytes_out, route.entity if route is not None else None,
        service.entity if service is not None else None, exchange.consumer, exchange.credential,
        path + exchange.query if path is not None else None, tries, exchange.log_fields,
        trace.trace_id if trace is not None else None, trace)
