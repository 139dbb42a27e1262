"""The master's analytics reports from the workers' real counters: ids, consumers split out of their routes,
differences between reports, workers that exit, and reports split to fit a frame."""

from __future__ import annotations

from typing import Any

import pytest

from oidcgate.cluster import protocol
from oidcgate.cluster.client import AnalyticsOutbox
from oidcgate.cluster.protocol import UsageRow
from oidcgate.config import Snapshot, load
from oidcgate.config.entities import Consumer
from oidcgate.plugins.registry import config_schema
from oidcgate.proxy.analytics import AnalyticsReporter
from oidcgate.proxy.metrics import WorkerStats
from oidcgate.proxy.usage import ConsumerUsage
from tests.support.analytics import latency_counts as histogram

ALICE = Consumer(id="0d1b6c39-5a3e-4c1e-8a55-3f1c2b7d9e01", username="alice")
BOB = Consumer(id="7c0e2f4a-9b1d-4e8f-a6c3-5d2e1f0a9b02", custom_id="bob-42")


def config(route_name: str = "orders") -> Snapshot:
    return load({"_format_version": "3.0", "services": [
        {"name": "shop", "url": "http://127.0.0.1:9", "routes": [{"name": route_name, "paths": ["/orders"]}]}]}, config_schema)


class Worker:
    """One worker's counters, counted the way Exchange._record counts a finished request."""

    def __init__(self) -> None:
        self.stats = WorkerStats()
        self.usage = ConsumerUsage()

    def request(self, route: str | None, status: int, latency_ms: float, consumer: Consumer | None = None) -> None:
        stats = self.stats.child("shop", route) if route else self.stats.unmatched
        stats.codes[status] = stats.codes.get(status, 0) + 1
        stats.pending_total.append(latency_ms)
        if consumer is not None:
            self.usage.record(stats, consumer, status, latency_ms)

    def report(self) -> dict[str, Any]:
        return {"routes": self.stats.dump(), "consumers": self.usage.dump()}


class Workers:
    """The supervisor's side the reporter uses: collect() asks every live worker, counters() adds up the
    last reports of every worker that ever ran."""

    def __init__(self, count: int) -> None:
        self.live = [Worker() for _ in range(count)]
        self.last: list[dict[str, Any]] = []
        self.retired: list[dict[str, Any]] = []

    async def collect(self) -> list[dict[str, Any]]:
        self.last = [worker.report() for worker in self.live]
        return self.last

    def counters(self) -> tuple[list[Any], list[Any]]:
        reports = [*self.retired, *self.last]
        return [r["routes"] for r in reports], [r["consumers"] for r in reports]

    def exit(self, index: int) -> None:
        self.retired.append(self.last.pop(index))
        self.live.pop(index)


async def reported(reporter: AnalyticsReporter, outbox: AnalyticsOutbox, minute: int = 600) -> list[UsageRow]:
    """The rows of the report for `minute`, in a stable order (none when nothing changed)."""
    await reporter.report(minute)
    rows: list[UsageRow] = []
    while len(outbox):
        message = await outbox.next()
        outbox.sent(message)
        assert message.minute == minute
        rows.extend(message.rows)
    return sorted(rows, key=repr)


def short(rows: list[UsageRow]) -> list[tuple[str, str, dict[int, int], tuple[int, ...]]]:
    return [(row.route_name, row.consumer_name, row.codes, row.latency) for row in rows]


async def test_rows_carry_ids_and_split_each_route_by_consumer() -> None:
    workers, outbox = Workers(2), AnalyticsOutbox()
    snapshot = config()
    reporter = AnalyticsReporter(workers, lambda: snapshot, outbox, interval=1)
    one, two = workers.live
    one.request("orders", 200, 1.5, ALICE)
    two.request("orders", 200, 3.0, ALICE)
    two.request("orders", 401, 0.4)
    one.request("orders", 200, 12.0, BOB)
    one.request(None, 404, 0.2)
    rows = await reported(reporter, outbox)
    service, route = snapshot.services[0], snapshot.routes[0]
    assert rows == sorted([
        UsageRow(service.id, "shop", route.id, "orders", ALICE.id, "alice", {200: 2}, histogram(1.5, 3.0)),
        UsageRow(service.id, "shop", route.id, "orders", BOB.id, "bob-42", {200: 1}, histogram(12.0)),
        UsageRow(service.id, "shop", route.id, "orders", None, "", {401: 1}, histogram(0.4)),
        UsageRow(None, "", None, "", None, "", {404: 1}, histogram(0.2)),
    ], key=repr)
    assert await reported(reporter, outbox) == []  # nothing new: no report at all
    one.request("orders", 429, 0.3, ALICE)
    assert await reported(reporter, outbox, 660) == [
        UsageRow(service.id, "shop", route.id, "orders", ALICE.id, "alice", {429: 1}, histogram(0.3))]


async def test_a_worker_that_exits_loses_nothing_it_reported_and_counts_nothing_twice() -> None:
    workers, outbox = Workers(2), AnalyticsOutbox()
    reporter = AnalyticsReporter(workers, config, outbox, interval=1)
    for worker in workers.live:
        worker.request("orders", 200, 1.0)
    assert short(await reported(reporter, outbox)) == [("orders", "", {200: 2}, histogram(1.0, 1.0))]
    workers.exit(0)  # its counters stay in the totals as it last reported them
    workers.live.append(Worker())  # its replacement starts from zero
    workers.live[-1].request("orders", 500, 1.0)
    assert short(await reported(reporter, outbox)) == [("orders", "", {500: 1}, histogram(1.0))]


async def test_counters_that_went_back_were_reset() -> None:
    workers, outbox = Workers(1), AnalyticsOutbox()
    reporter = AnalyticsReporter(workers, config, outbox, interval=1)
    for _ in range(3):
        workers.live[0].request("orders", 200, 1.0)
    await reported(reporter, outbox)
    workers.live[0] = Worker()  # (what a worker gone without a trace would look like)
    workers.live[0].request("orders", 200, 1.0)
    assert short(await reported(reporter, outbox)) == [("orders", "", {200: 1}, histogram(1.0))]


async def test_a_renamed_route_keeps_its_id_for_what_was_counted_under_the_old_name() -> None:
    workers, outbox = Workers(1), AnalyticsOutbox()
    current = config("orders")
    reporter = AnalyticsReporter(workers, lambda: current, outbox, interval=1)
    workers.live[0].request("orders", 200, 1.0)
    await reported(reporter, outbox)
    route_id = current.routes[0].id
    doc = current.to_declarative()
    doc["routes"][0]["name"] = "purchases"
    current = load(doc, config_schema)
    workers.live[0].request("orders", 200, 1.0)  # finished before the new configuration was swapped in
    workers.live[0].request("purchases", 200, 1.0)
    assert [(r.route, r.route_name) for r in await reported(reporter, outbox)] == [
        (route_id, "orders"), (route_id, "purchases")]


async def test_many_rows_are_split_into_frames_the_control_plane_accepts() -> None:
    workers, outbox = Workers(1), AnalyticsOutbox()
    reporter = AnalyticsReporter(workers, config, outbox, interval=1)
    for n in range(4000):
        workers.live[0].request(f"route-{n:04}-{'x' * 100}", 200, 1.0)
    await reporter.report(60)
    assert len(outbox) > 1
    frames = []
    while len(outbox):
        message = await outbox.next()
        outbox.sent(message)
        frames.append(protocol.encode(message))
    assert all(len(frame) <= protocol.ANALYTICS_FRAME_BUDGET for frame in frames)
    assert sum(len(protocol.decode(frame).rows) for frame in frames) == 4000  # type: ignore[union-attr]


def test_the_interval_divides_a_minute() -> None:
    with pytest.raises(ValueError, match="divide a minute"):
        AnalyticsReporter(Workers(1), config, AnalyticsOutbox(), interval=7)


def test_the_outbox_drops_the_oldest_past_its_bound() -> None:
    outbox = AnalyticsOutbox(limit=2)
    messages = [protocol.Analytics(60 * n, ()) for n in (1, 2, 3)]
    for message in messages:
        outbox.put(message)
    assert (len(outbox), outbox.dropped) == (2, 1)
    outbox.sent(messages[0])  # already dropped: nothing else goes
    assert len(outbox) == 2
