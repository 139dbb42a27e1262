"""OTLP/HTTP protobuf: a batch of traced requests as one ExportTraceServiceRequest (opentelemetry-proto's
messages, not a hand-written encoder).

Each request gives Kong's spans: `kong` (server: the whole request, child of the client's span when its
`traceparent` named one), `kong.<phase>.plugin.<name>` (each plugin phase), `kong.internal.request`
(calls those phases made, e.g. to the identity provider) and `kong.balancer` (client: from the request
going upstream to the end of the response; its id is the parent id the upstream received). Attributes
use Kong's (older semantic-convention) names; the URL's query values are redacted (they carry tokens).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from oidcgate import __version__
from oidcgate.plugins.log_serializer import Finished, redacted_query
from oidcgate.plugins.opentelemetry.trace import CLIENT, INTERNAL, Trace

SCOPE = InstrumentationScope(name="oidcgate", version=__version__)
_ERROR = Status(code=Status.StatusCode.STATUS_CODE_ERROR)
_KINDS = {INTERNAL: Span.SpanKind.SPAN_KIND_INTERNAL, CLIENT: Span.SpanKind.SPAN_KIND_CLIENT}
_SERVER, _CLIENT = Span.SpanKind.SPAN_KIND_SERVER, Span.SpanKind.SPAN_KIND_CLIENT
_CACHED_MAX = 4096


def resource(attributes: Mapping[str, str]) -> Resource:
    return Resource(attributes=[_attribute(key, value) for key, value in attributes.items()])


def encode(batch: list[Finished], resource_: Resource) -> bytes:
    """One export of the batch's spans. Messages are built in place (`add`), and attributes, which repeat
    from request to request, are copied from cached messages: building messages is most of the cost."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.CopyFrom(resource_)
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.CopyFrom(SCOPE)
    spans = scope_spans.spans
    for finished in batch:
        add_spans(spans, finished)
    return request.SerializeToString()


def add_spans(spans: Any, finished: Finished) -> None:
    """The spans of one finished request, added to the repeated field `spans`."""
    trace: Trace = finished.trace
    trace_id = trace.trace_id
    start = int(finished.started_at * 1e9)
    end = start + int(finished.request_ms * 1e6)
    host = finished.host.decode("latin-1")
    client = finished.client_ip
    root = spans.add(trace_id=trace_id, span_id=trace.root_id, parent_span_id=trace.parent_id or b"", name="kong",
                     kind=_SERVER, start_time_unix_nano=start, end_time_unix_nano=end)
    root.attributes.extend([
        _attribute("http.method", finished.method.decode("latin-1")),
        _attribute("http.url", f"http://{host}:{finished.port}{finished.raw_path.decode('latin-1')}"
                               f"{redacted_query(finished.query)}"),
        _attribute("http.host", host), _attribute("http.scheme", "http"),
        _attribute("http.flavor", finished.http_version), _attribute("http.client_ip", client),
        _attribute("net.peer.ip", client), _attribute("http.status_code", finished.status)])
    if finished.status >= 500:
        root.status.CopyFrom(_ERROR)
    offset = trace.epoch_offset
    for recorded in trace.spans:
        span = spans.add(trace_id=trace_id, span_id=recorded.span_id, parent_span_id=recorded.parent_id,
                         name=recorded.name, kind=_KINDS[recorded.kind],
                         start_time_unix_nano=int((recorded.start + offset) * 1e9),
                         end_time_unix_nano=int((recorded.end_at + offset) * 1e9))
        if recorded.attributes:
            span.attributes.extend([_attribute(key, value) for key, value in recorded.attributes.items()])
        if recorded.failed:
            span.status.CopyFrom(_ERROR)
    if finished.tries:
        ip, port, failure = finished.tries[-1]
        balancer = spans.add(trace_id=trace_id, span_id=trace.upstream_id, parent_span_id=trace.root_id,
                             name="kong.balancer", kind=_CLIENT,
                             start_time_unix_nano=start + int(finished.kong_ms * 1e6), end_time_unix_nano=end)
        balancer.attributes.extend([_attribute("try_count", len(finished.tries)), _attribute("net.peer.ip", ip),
                                    _attribute("net.peer.port", port)])
        if failure is None:
            balancer.attributes.append(_attribute("http.status_code", finished.status))
        else:
            balancer.status.CopyFrom(_ERROR)


_cached: dict[tuple[str, type, Any], KeyValue] = {}


def _attribute(key: str, value: Any) -> KeyValue:
    """The KeyValue message of an attribute, built once per (key, value) while the cache has room."""
    cache_key = (key, type(value), value)  # (1 and True are equal keys, not equal attributes)
    known = _cached.get(cache_key)
    if known is None:
        known = KeyValue(key=key, value=_value(value))
        if len(_cached) >= _CACHED_MAX:
            _cached.clear()
        _cached[cache_key] = known
    return known


def _value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))
