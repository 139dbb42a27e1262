"""Kong's opentelemetry plugin: traces of the requests, in OTLP/HTTP protobuf, with W3C trace context."""
