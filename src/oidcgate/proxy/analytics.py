"""The data plane master's analytics reports: every interval, the requests finished since the last report,
by service, route, consumer and status code with their latency histograms, queued for the control plane.

The request path counts nothing for this beyond `oidcgate.proxy.usage`: the workers' counters (the
metrics' RouteStats and the consumer counters) only grow, so the master diffs their totals, summed over
every worker that ever ran, between two ticks. A route's requests without a consumer are its total less
its consumers' requests, so every request is in exactly one row. Ticks are aligned on the wall clock and
the interval divides a minute, so a report covers part of exactly one minute, the one it is filed under.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from oidcgate.analytics.histogram import SIZE
from oidcgate.cluster import protocol
from oidcgate.cluster.protocol import Analytics, UsageRow
from oidcgate.config import Snapshot
from oidcgate.proxy.metrics import merge

log = logging.getLogger("oidcgate.proxy.analytics")

INTERVALS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)  # seconds that divide a minute
Dump = list[list[Any]]
Key = tuple[str, str, str]  # service name, route name (as the metrics label them), consumer id ("": none)


class Counters(Protocol):
    """What the reporter needs of the supervisor."""

    async def collect(self) -> list[dict[str, Any]]: ...

    def counters(self) -> tuple[list[Dump], list[Dump]]: ...


class Outbox(Protocol):
    def put(self, message: Analytics) -> None: ...


@dataclass
class Count:
    consumer_name: str = ""
    codes: dict[int, int] = field(default_factory=dict)
    latency: list[int] = field(default_factory=lambda: [0] * SIZE)

    def add(self, codes: dict[int, int], latency: list[int], sign: int = 1) -> None:
        for code, n in codes.items():
            self.codes[code] = self.codes.get(code, 0) + sign * n
        self.latency = [a + sign * b for a, b in zip(self.latency, latency, strict=True)]


def totals(route_dumps: list[Dump], consumer_dumps: list[Dump]) -> dict[Key, Count]:
    """Requests since the workers started, per (service, route, consumer); consumer "" holds the rest."""
    found: dict[Key, Count] = {}
    for (service, route), (codes, latency, *_sums) in merge(route_dumps).items():
        found[(service, route, "")] = Count("", {int(code): n for code, n in codes.items()}, list(latency))
    for dump in consumer_dumps:
        for service, route, consumer_id, consumer_name, codes_text, latency in dump:
            codes = {int(code): n for code, n in codes_text.items()}
            found.setdefault((service, route, consumer_id), Count(consumer_name)).add(codes, latency)
            found.setdefault((service, route, ""), Count()).add(codes, latency, -1)
    return found


def difference(now: Count, before: Count | None) -> Count:
    """What was counted in between, without zero counts; a counter that went back was reset, as Prometheus
    reads counters, so then everything counted now is new (codes and latencies stay consistent)."""
    codes, latency = now.codes, now.latency
    if before is not None:
        since = {code: n - before.codes.get(code, 0) for code, n in codes.items()}
        spread = [a - b for a, b in zip(latency, before.latency, strict=True)]
        if min(spread) >= 0 and min(since.values(), default=0) >= 0 and before.codes.keys() <= codes.keys():
            codes, latency = since, spread
    return Count(now.consumer_name, {code: n for code, n in codes.items() if n}, latency)


class EntityIds:
    """(service name, route name) as the metrics label them -> (service id, route id), from the snapshots
    the data plane ran. Entries are never forgotten: requests of a renamed route that finished before the
    new configuration was applied are reported after it, under the old name."""

    def __init__(self) -> None:
        self.ids: dict[tuple[str, str], tuple[str | None, str | None]] = {("", ""): (None, None)}
        self.hash: str | None = None

    def update(self, snapshot: Snapshot | None) -> None:
        if snapshot is None or snapshot.hash == self.hash:
            return
        self.hash = snapshot.hash
        services = {s.id: s for s in snapshot.services}
        for route in snapshot.routes:
            service = services.get(route.service) if route.service else None
            service_name = (service.name or service.id or "") if service is not None else ""
            self.ids[(service_name, route.name or route.id or "")] = (service.id if service else None, route.id)

    def row(self, key: Key, count: Count) -> UsageRow:
        service_name, route_name, consumer_id = key
        service_id, route_id = self.ids.get((service_name, route_name), (None, None))
        return UsageRow(service_id, service_name, route_id, route_name, consumer_id or None, count.consumer_name,
                        count.codes, tuple(count.latency))


class AnalyticsReporter:
    """Queues one report per interval (when anything was counted) into `outbox`."""

    def __init__(self, supervisor: Counters, snapshot: Callable[[], Snapshot | None], outbox: Outbox,
                 interval: int) -> None:
        if interval not in INTERVALS:
            raise ValueError(f"the analytics interval must divide a minute: one of {INTERVALS}")
        self.supervisor = supervisor
        self.snapshot = snapshot
        self.outbox = outbox
        self.interval = interval
        self.previous: dict[Key, Count] = {}
        self.ids = EntityIds()

    async def run(self) -> None:
        while True:
            now = time.time()
            tick = (now // self.interval + 1) * self.interval
            await asyncio.sleep(tick - now)
            try:
                await self.report(int(tick - self.interval) // 60 * 60)
            except Exception:  # a bug must not end the reports for good
                log.exception("analytics report failed")

    async def report(self, minute: int) -> None:
        """Collect the workers' counters and queue what changed since the last report, filed under `minute`."""
        await self.supervisor.collect()
        rows = self.rows(*self.supervisor.counters())
        if rows:
            for message in protocol.split_analytics(minute, rows):
                self.outbox.put(message)

    def rows(self, route_dumps: list[Dump], consumer_dumps: list[Dump]) -> list[UsageRow]:
        current = totals(route_dumps, consumer_dumps)
        self.ids.update(self.snapshot())
        rows = []
        for key, count in current.items():
            changed = difference(count, self.previous.get(key))
            if changed.codes:
                rows.append(self.ids.row(key, changed))
        self.previous = current
        return rows
