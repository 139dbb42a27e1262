"""The data plane's side of observer plugins (plugins.observer): the prometheus, file-log, http-log and
opentelemetry instances of each route, chosen once per snapshot, and the calls into them.

The request path reaches them through small hooks, each a line or two where it sits:
  - server._dispatch, once a route matched: `begin_trace` (the route's tracing instance decides; its
    `traceparent` replaces the client's in the fields sent upstream);
  - Exchange.finish, when the response went out: the route's `observe(exchange, end)`, built here
    (`Runtime.unmatched` for requests that matched no route);
  - what a log entry needs that the fast path does not keep, only on routes an observer logs
    (`RouteRuntime.logged`): forward.request_head keeps the path sent upstream, Exchange.on_response_head
    the response's fields, Exchange.finish the credential and log fields; Exchange.upstream_failed notes
    failed tries;
  - a traced request runs its plugins' phases through `trace.phase` (a span each: proxy.phases), and
    takes no recorded decision (proxy.memo), so that every plugin's span is there.
Everything else (what is counted, serialized, sent) is in the plugins.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from oidcgate.http.fields import HeaderFields
from oidcgate.plugins.log_serializer import Finished
from oidcgate.plugins.observer import Observer, Recorder, RouteInfo, Timed
from oidcgate.plugins.pdk import HeaderView

if TYPE_CHECKING:
    from oidcgate.plugins.pdk import ConsumerIndex
    from oidcgate.proxy.pipeline import Slot


class Observable(Timed, Protocol):
    """A finished exchange, as observers read it."""

    def log_entry(self, end: float) -> Finished:
        """What a log or trace plugin gets (built once per request, shared by them)."""


class Traceable(Protocol):
    """An exchange whose route traces its requests."""

    fields: HeaderFields  # as they go upstream
    trace: Any  # the tracing instance's trace (sampled requests only)

    @property
    def client_fields(self) -> HeaderFields: ...


log = logging.getLogger("oidcgate.proxy.observers")
LOG_EVERY = 10.0
Observe = Callable[[Observable, float], None]


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

    def fixed(self, exchange: Observable, end: float) -> None:
        for record in self.recorders:
            record(exchange, end)
        if self.loggers:
            try:
                entry = exchange.log_entry(end)
                for logger in self.loggers:
                    logger.observe(entry)
            except Exception:  # a log or trace plugin's failure must not break the connection
                _failed()

    def picked(self, exchange: Observable, end: float) -> None:
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
                    entry = entry or exchange.log_entry(end)
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


def begin_trace(exchange: Traceable, tracer: Observer) -> None:
    """The route's tracing instance decides from the client's fields; its fields (traceparent) replace
    the client's of those names in what goes upstream."""
    begun = tracer.begin(HeaderView.over(exchange.client_fields))
    if begun.trace is not None:
        exchange.trace = begun.trace
    if begun.fields or not begun.replaces.isdisjoint(exchange.fields.names()):
        fields = exchange.fields = exchange.fields.copy()  # (the client's stay as they came, for the plugins)
        fields.remove_all(begun.replaces)
        fields.extend(begun.fields)
