"""One request's trace while it runs: ids, and the spans of the plugin phases and of the calls they make.

The root (`kong`, server) and upstream (`kong.balancer`, client) spans are made at export, from the
finished request (otlp.py); while the request runs, only the phases of its plugins (`kong.<phase>.plugin
.<name>`) and their outgoing calls (`kong.internal.request`, plugins.tracing) are recorded here, as
plain tuples (times from perf_counter, turned into epoch nanoseconds at export).

The upstream span's id is chosen when the trace begins, because it goes upstream in `traceparent` before
the span exists: the upstream's own spans are its children.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Coroutine
from typing import Any

from oidcgate.plugins.pdk import Context, PluginExit
from oidcgate.plugins.tracing import Within

INTERNAL, CLIENT = 1, 3  # OTLP span kinds of the spans recorded here

_perf = time.perf_counter
_bits = random.getrandbits


def new_id(size: int) -> bytes:
    """A random span (8) or trace (16) id; never all zeros."""
    return (_bits(size * 8) or 1).to_bytes(size, "big")


class RecordedSpan:
    """A span recorded during the request: name, ids, kind, perf_counter times, attributes, error."""

    __slots__ = ("attributes", "end_at", "failed", "kind", "name", "parent_id", "span_id", "start", "status_code",
                 "trace")

    def __init__(self, trace: Trace, name: str, parent_id: bytes, kind: int,
                 attributes: dict[str, Any] | None = None) -> None:
        self.trace, self.name, self.parent_id, self.kind = trace, name, parent_id, kind
        self.span_id = new_id(8)
        self.attributes = attributes
        self.start = _perf()
        self.end_at = 0.0
        self.failed = False
        self.status_code: int | None = None

    def end(self, failed: bool) -> None:
        self.end_at, self.failed = _perf(), failed
        if self.status_code is not None:
            self.attributes = {**(self.attributes or {}), "http.status_code": self.status_code}
        self.trace.spans.append(self)


class Trace:
    """A sampled request's trace (see the module doc); `phase` is the data plane's tracing hook."""

    __slots__ = ("epoch_offset", "parent_id", "root_id", "spans", "trace_id", "upstream_id")

    def __init__(self, trace_id: bytes, parent_id: bytes | None) -> None:
        self.trace_id = trace_id
        self.parent_id = parent_id  # the client's span, from its traceparent
        self.root_id = new_id(8)
        self.upstream_id = new_id(8)
        self.spans: list[RecordedSpan] = []
        self.epoch_offset = time.time() - _perf()

    async def phase(self, step: Callable[[Context], Coroutine[Any, Any, None]], ctx: Context) -> None:
        """Run one plugin's phase (a bound `rewrite`/`access`/`response`) as a span; the calls it makes
        are its children."""
        plugin = step.__self__  # type: ignore[attr-defined]
        span = RecordedSpan(self, f"kong.{step.__name__}.plugin.{plugin.NAME}", self.root_id, INTERNAL)
        try:
            await Within(step(ctx), self, span.span_id)
        except PluginExit:  # the plugin answered (a 401): its decision, not its failure
            span.end(failed=False)
            raise
        except BaseException:
            span.end(failed=True)
            raise
        span.end(failed=False)

    def client(self, name: str, parent: bytes, attributes: dict[str, Any]) -> RecordedSpan:
        return RecordedSpan(self, name, parent, CLIENT, attributes)
