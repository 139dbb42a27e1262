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
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from oidcgate import __version__
from oidcgate.plugins.log_serializer import Finished, redacted_query
from oidcgate.plugins.opentelemetry.trace import CLIENT, INTERNAL, RecordedSpan, Trace

SCOPE = InstrumentationScope(name="oidcgate", version=__version__)
_ERROR = Status(code=Status.StatusCode.STATUS_CODE_ERROR)
_KINDS = {INTERNAL: Span.SpanKind.SPAN_KIND_INTERNAL, CLIENT: Span.SpanKind.SPAN_KIND_CLIENT}


def resource(attributes: Mapping[str, str]) -> Resource:
    return Resource(attributes=_attributes(attributes))


def encode(batch: list[Finished], resource_: Resource) -> bytes:
    spans = [span for finished in batch for span in spans_of(finished)]
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=resource_, scope_spans=[ScopeSpans(scope=SCOPE, spans=spans)])]).SerializeToString()


def spans_of(finished: Finished) -> list[Span]:
    trace: Trace = finished.trace
    start = int(finished.started_at * 1e9)
    end = start + int(finished.request_ms * 1e6)
    host = finished.host.decode("latin-1")
    root = Span(trace_id=trace.trace_id, span_id=trace.root_id, parent_span_id=trace.parent_id or b"", name="kong",
                kind=Span.SpanKind.SPAN_KIND_SERVER, start_time_unix_nano=start, end_time_unix_nano=end, attributes=_attributes({
                    "http.method": finished.method.decode("latin-1"),
                    "http.url": f"http://{host}:{finished.port}{finished.raw_path.decode('latin-1')}"
                                f"{redacted_query(finished.query)}",
                    "http.host": host, "http.scheme": "http", "http.flavor": finished.http_version,
                    "http.client_ip": finished.client_ip, "net.peer.ip": finished.client_ip,
                    "http.status_code": finished.status}),
                status=_ERROR if finished.status >= 500 else None)
    spans = [root, *(_recorded(trace, span) for span in trace.spans)]
    if finished.tries:
        ip, port, failure = finished.tries[-1]
        attributes: dict[str, Any] = {"try_count": len(finished.tries), "net.peer.ip": ip, "net.peer.port": port}
        if failure is None:
            attributes["http.status_code"] = finished.status
        spans.append(Span(trace_id=trace.trace_id, span_id=trace.upstream_id, parent_span_id=trace.root_id,
                          name="kong.balancer", kind=Span.SpanKind.SPAN_KIND_CLIENT, start_time_unix_nano=start + int(finished.kong_ms * 1e6),
                          end_time_unix_nano=end, attributes=_attributes(attributes),
                          status=_ERROR if failure is not None else None))
    return spans


def _recorded(trace: Trace, span: RecordedSpan) -> Span:
    return Span(trace_id=trace.trace_id, span_id=span.span_id, parent_span_id=span.parent_id, name=span.name,
                kind=_KINDS[span.kind], start_time_unix_nano=int((span.start + trace.epoch_offset) * 1e9),
                end_time_unix_nano=int((span.end_at + trace.epoch_offset) * 1e9),
                attributes=_attributes(span.attributes or {}), status=_ERROR if span.failed else None)


def _attributes(values: Mapping[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=key, value=_value(value)) for key, value in values.items()]


def _value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))
