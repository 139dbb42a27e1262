"""opentelemetry handler: decide which requests to trace, carry W3C trace context upstream, export spans.

An observer (plugins.observer) that also begins traces: when a request matches a route of this instance,
before any plugin runs, `begin` reads the client's `traceparent` (propagation.extract), decides whether
to trace (propagation.sampled) and gives the data plane the `traceparent` to send upstream (inject),
whether or not the request is sampled, as Kong does. A sampled request's plugin phases and their calls
are recorded while it runs (trace.py); when it has finished, it is queued (plugins.queue) and the
queue's sender exports batches to `traces_endpoint` (otlp.py, plugins.http_sink). A global instance also
traces requests that matched no route (their only span is the request's).
"""

from __future__ import annotations

import hashlib
from typing import ClassVar

import httpx
import orjson

from oidcgate import __version__
from oidcgate.plugins.http_sink import HttpSink, public_url
from oidcgate.plugins.log_serializer import Finished
from oidcgate.plugins.observer import Begun, Observer
from oidcgate.plugins.opentelemetry import otlp, propagation
from oidcgate.plugins.opentelemetry.schema import OpenTelemetryConfig
from oidcgate.plugins.opentelemetry.trace import Trace, new_id
from oidcgate.plugins.pdk import HeaderView, PluginEnv, encode_field
from oidcgate.plugins.queue import shared_queue

KEEPALIVE = 60.0  # seconds an idle connection to the collector is kept (Kong's http client default)


class OpenTelemetryHandler(Observer[OpenTelemetryConfig]):
    NAME: ClassVar[str] = "opentelemetry"
    PRIORITY: ClassVar[int] = 14
    VERSION: ClassVar[str] = __version__
    CONFIG = OpenTelemetryConfig

    def __init__(self, config: OpenTelemetryConfig, env: PluginEnv, *, instance_id: str | None = None) -> None:
        super().__init__(config, env, instance_id=instance_id)
        propagation_ = config.propagation
        self.extract = propagation_.extract is None or "w3c" in propagation_.extract
        self.inject = propagation_.inject is None or bool(propagation_.inject)  # preserve or w3c: w3c
        clear = frozenset(name.lower().encode() for name in propagation_.clear or ())
        self.replaces = clear | {b"traceparent"} if self.inject else clear
        self.rate = 1.0 if config.sampling_rate is None else config.sampling_rate
        attributes = {"service.name": "kong", "service.version": __version__, "service.instance.id": env.node_id,
                      **(config.resource_attributes or {})}
        exporting = orjson.dumps([config.traces_endpoint, config.headers, config.connect_timeout,
                                  config.send_timeout, config.read_timeout, attributes], option=orjson.OPT_SORT_KEYS)
        name = f"{public_url(config.traces_endpoint)}#{hashlib.sha256(exporting).hexdigest()[:12]}"
        resource = otlp.resource(attributes)
        timeout = httpx.Timeout(connect=config.connect_timeout / 1000, write=config.send_timeout / 1000,
                                read=config.read_timeout / 1000, pool=config.connect_timeout / 1000)
        self.queue = shared_queue(env, self.NAME, name, config.queue, lambda: HttpSink(
            config.traces_endpoint, "POST", {**(config.headers or {}), "Content-Type": "application/x-protobuf"},
            timeout, KEEPALIVE, lambda batch: otlp.encode(batch, resource)))

    def begin(self, headers: HeaderView) -> Begun:
        parent = self._extracted(headers) if self.extract else None
        trace_id = parent.trace_id if parent is not None else new_id(16)
        sampled = propagation.sampled(trace_id, self.rate, parent)
        trace = Trace(trace_id, parent.span_id if parent is not None else None) if sampled else None
        injected = encode_field("traceparent", propagation.traceparent(
            trace_id, trace.upstream_id if trace is not None else new_id(8), sampled).decode()) if self.inject else ()
        return Begun(trace, injected, self.replaces)

    @staticmethod
    def _extracted(headers: HeaderView) -> propagation.Parent | None:
        value = headers.get("traceparent")
        return propagation.parse(value.encode("latin-1")) if value is not None else None

    def observe(self, entry: Finished) -> None:
        if entry.trace is None:
            if entry.route is not None:
                return  # begun and not sampled
            trace = self.begin(HeaderView.over(entry.request_fields)).trace  # a request that matched no route
            if trace is None:
                return
            entry.trace, entry.trace_id = trace, trace.trace_id
        self.queue.put(entry)
