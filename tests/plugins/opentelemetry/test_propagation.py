"""W3C traceparent in and out, Kong's sampling decision, and the plugin's schema."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from oidcgate.plugins.opentelemetry.propagation import Parent, parse, sampled, traceparent
from oidcgate.plugins.opentelemetry.schema import OpenTelemetryConfig

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


def test_traceparent_is_read_and_written() -> None:
    parent = parse(f"00-{TRACE}-{SPAN}-01".encode())
    assert parent == Parent(bytes.fromhex(TRACE), bytes.fromhex(SPAN), 1)
    assert traceparent(parent.trace_id, parent.span_id, True) == f"00-{TRACE}-{SPAN}-01".encode()
    assert traceparent(parent.trace_id, parent.span_id, False).endswith(b"-00")
    assert parse(f"01-{TRACE}-{SPAN}-01-later-fields".encode()) is not None  # a later version: its first fields


@pytest.mark.parametrize("value", [f"ff-{TRACE}-{SPAN}-01", f"00-{'0' * 32}-{SPAN}-01", f"00-{TRACE}-{'0' * 16}-01",
                                   f"00-{TRACE.upper()}-{SPAN}-01", f"00-{TRACE}-{SPAN}-01-extra", f"00-{TRACE}-{SPAN}",
                                   "garbage", ""])
def test_a_traceparent_that_is_not_valid_starts_a_new_trace(value: str) -> None:
    assert parse(value.encode()) is None


def test_sampling_follows_a_declining_parent_then_the_rate_by_trace_id() -> None:
    low, high = bytes(8) + bytes(8), b"\xff" * 16
    declining = Parent(high, b"\x01" * 8, 0)
    assert not sampled(high, 1.0, declining)
    assert sampled(high, 1.0, None) and not sampled(low, 0.0, None)
    assert sampled(low, 0.5, None) and not sampled(high, 0.5, None)  # the same trace id, the same answer


def test_only_w3c_and_what_oidcgate_cannot_do_is_refused() -> None:
    config = OpenTelemetryConfig.model_validate({"traces_endpoint": "http://collector:4318/v1/traces"})
    assert config.queue.max_batch_size == 200 and config.propagation.default_format == "w3c"
    assert (config.connect_timeout, config.send_timeout, config.read_timeout) == (1000, 5000, 5000)
    for refused, message in (({"propagation": {"extract": ["b3"]}}, "W3C trace context only"),
                             ({"propagation": {"inject": ["jaeger"]}}, "W3C trace context only"),
                             ({"propagation": {"extract": ["carrier-pigeon"]}}, "unknown format"),
                             ({"logs_endpoint": "http://collector:4318/v1/logs"}, "logs_endpoint"),
                             ({"sampling_rate": 1.5}, "sampling_rate"),
                             ({"traces_endpoint": "ftp://collector"}, "http or https URL")):
        with pytest.raises(ValidationError, match=message):
            OpenTelemetryConfig.model_validate({"traces_endpoint": "http://collector:4318/v1/traces", **refused})
