"""What finished exchanges leave behind: their metrics and their access log lines, in batches.

A finished exchange only appends itself and its end time to `Records.finished`; every BATCH requests
and on the worker tick (and before counters are reported) `settle()` counts them (a dict increment and
two latency appends each, its code negated when the gateway answered itself: prometheus' `source`; the
histograms are folded every FOLD_AT; analytics counts the requests of a consumer, see usage) and
hands them to the access log, which formats and writes their lines at once. Working in batches keeps
this code hot in the CPU's caches and off each request's path, and a batch takes a fraction of a
millisecond: never a pause a client would notice.
"""

from __future__ import annotations

from typing import Protocol

from oidcgate.proxy.accesslog import AccessLog, Finished, Named
from oidcgate.proxy.metrics import FOLD_AT, RouteStats
from oidcgate.proxy.usage import ConsumerUsage

BATCH = 256


class Counted(Named, Protocol):
    stats: RouteStats  # the route's


class Recorded(Finished, Protocol):
    """A finished exchange, as its metrics and log line read it."""

    @property
    def route(self) -> Counted: ...


class Records:
    __slots__ = ("access_log", "finished", "usage")

    def __init__(self, access_log: AccessLog, usage: ConsumerUsage) -> None:
        self.access_log = access_log
        self.usage = usage
        self.finished: list[tuple[Recorded, float]] = []  # (exchange, perf_counter at its end)

    def settle(self) -> None:
        finished = self.finished
        if not finished:
            return
        self.finished = []
        for done, end in finished:
            stats = done.route.stats
            codes = stats.codes
            t_head = done.t_head
            code = done.status if t_head else -done.status  # negative: the gateway answered itself
            codes[code] = codes.get(code, 0) + 1
            pending = stats.pending_total
            total = (end - done.t0) * 1000.0
            pending.append(total)
            if done.consumer is not None:  # analytics: requests by consumer
                self.usage.record(stats, done.consumer, done.status, total)
            if t_head:
                stats.pending_upstream.append((t_head - done.t_sent) * 1000.0)
            kong = stats.pending_kong
            if kong is not None:  # a prometheus instance exports Kong's kong latency: until sent upstream
                kong.append((done.t_sent - done.t0) * 1000.0 if t_head else total)
            if len(pending) >= FOLD_AT:
                stats.fold()
        if self.access_log.enabled:
            self.access_log.write(finished)
