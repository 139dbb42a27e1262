"""W3C Trace Context (`traceparent`): reading the client's, writing ours, and the sampling decision.

    traceparent: 00-<trace id, 32 hex>-<parent span id, 16 hex>-<flags, 2 hex>

A malformed value, or one of version ff, or an all-zero id, is ignored: the request starts a new trace
(W3C: "the vendor MUST create a new traceparent"). A later version is read for its first four fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SAMPLED = 0x01
_TRACEPARENT = re.compile(rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE, _ZERO_SPAN = b"0" * 32, b"0" * 16
_BOUND = 1 << 64


@dataclass(frozen=True, slots=True)
class Parent:
    trace_id: bytes  # 16 bytes
    span_id: bytes  # 8 bytes
    flags: int


def parse(value: bytes) -> Parent | None:
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == b"ff" or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN or (version == b"00" and rest):
        return None
    return Parent(bytes.fromhex(trace_id.decode()), bytes.fromhex(span_id.decode()), int(flags, 16))


def traceparent(trace_id: bytes, span_id: bytes, sampled: bool) -> bytes:
    return b"00-%s-%s-%02x" % (trace_id.hex().encode(), span_id.hex().encode(), SAMPLED if sampled else 0)


def sampled(trace_id: bytes, rate: float, parent: Parent | None) -> bool:
    """Kong's decision: a parent that says "not sampled" is followed; otherwise the probability `rate`,
    decided from the trace id, so that every hop with the same rate decides alike."""
    if parent is not None and not parent.flags & SAMPLED:
        return False
    return rate >= 1 or int.from_bytes(trace_id[:8], "big") < rate * _BOUND
