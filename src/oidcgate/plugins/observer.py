"""Observer plugins: Kong's metrics, logging and tracing plugins, which watch requests without taking part.

An ordinary plugin runs PDK phases, so a route with one leaves the data plane's fast path (a Context,
coroutines, a log task per request). The prometheus, file-log, http-log and opentelemetry plugins
change nothing in the request (opentelemetry only adds `traceparent`), so they are observers: they run
no phase and the route keeps its fast path. When the data plane compiles a snapshot it asks each
observer instance for what it does on each route it applies to (Kong's precedence picks the instance,
as for any plugin), and when a request has finished it calls those, once:

  - `recorder(route)`: a callable `(request, end)` that counts a finished request in per-worker
    counters (prometheus, for what the data plane does not count anyway: `RouteInfo.stats`). It reads
    the data plane's request object directly (see `Timed`), because it runs for every request;
  - `observe(entry)`: a finished request as a `log_serializer.Finished` (built once per request, shared
    by every observer on the route), for log and trace plugins, which queue it and do their real work
    (serializing, sending) later, in batches, off the request path.

An observer that traces (opentelemetry) also `begin`s a trace when the route has matched, before any
plugin phase, so that the phases and the upstream call are timed and `traceparent` reaches the upstream.
A consumer-scoped instance of such an observer never traces: a trace begins before anyone is
authenticated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from oidcgate.plugins.base import Plugin, PluginConfig

if TYPE_CHECKING:
    from oidcgate.config.entities import Consumer, Route, Service
    from oidcgate.http.fields import Encoded
    from oidcgate.plugins.log_serializer import Finished
    from oidcgate.plugins.pdk import HeaderView
    from oidcgate.proxy.metrics import RouteStats


class Timed(Protocol):
    """What a `recorder` reads of a finished request (the data plane's exchange, as it is)."""

    status: int
    t0: float  # perf_counter when the request head was parsed
    t_sent: float  # when the request went upstream
    t_head: float  # when the upstream's response head arrived; 0.0 when the gateway answered itself
    bytes_in: int  # request body bytes
    bytes_out: int  # response bytes written, head included
    consumer: Consumer | None

    def head_size(self) -> int:
        """The request head's size in bytes (request line and header fields)."""


Recorder = Callable[[Any, float], None]  # (a Timed request, perf_counter at its end)


@dataclass(frozen=True, slots=True)
class RouteInfo:
    """The route an observer is asked about; `entity` is None for requests that matched no route. `stats`
    are the data plane's counters of the route (proxy.metrics: every request is counted there once)."""

    entity: Route | None
    service: Service | None
    stats: RouteStats | None = None

    @property
    def name(self) -> str:
        """Kong's `route` label: the route's name, else its id."""
        return "" if self.entity is None else self.entity.name or self.entity.id or ""

    @property
    def service_name(self) -> str:
        """Kong's `service` label: the service's name, else its host."""
        return "" if self.service is None else self.service.name or self.service.host


ConfigT = TypeVar("ConfigT", bound=PluginConfig)


class Observer(Plugin[ConfigT]):
    """Base of observer plugins (see the module doc). Override `recorder`, `observe`, or both."""

    def recorder(self, route: RouteInfo) -> Recorder | None:
        """The counting function for `route`, or None when this instance counts nothing there."""
        return None

    def observe(self, entry: Finished) -> None:
        """A finished request on a route (or, for a global instance, a request that matched none).

        Called in the request's path, after its response went out: only queue, never wait."""

    def begin(self, headers: HeaderView) -> Begun:
        """A request matched a route of this instance (tracing observers only; see `traces`): decide
        whether to trace it, from the client's header fields."""
        raise NotImplementedError

    @classmethod
    def observes(cls) -> bool:
        return cls.observe is not Observer.observe

    @classmethod
    def traces(cls) -> bool:
        return cls.begin is not Observer.begin


@dataclass(slots=True)
class Begun:
    """What `begin` decided: the trace to time the request with (None: not sampled), and the header
    fields to send upstream instead of the client's fields of those names (from encode_field)."""

    trace: Any
    fields: Encoded
    replaces: frozenset[bytes]  # lower-case names of the client's fields to drop


def is_observer(handler: type[Plugin]) -> bool:
    return issubclass(handler, Observer)
