"""Kong's plugin queue in one event loop: batches, coalescing, retries with backoff, bounds, shutdown; every
drop counted."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from pydantic import ValidationError

from oidcgate.plugins.pdk import PluginEnv
from oidcgate.plugins.queue import DROPPED, Queue, QueueConfig, shared_queue

WAIT = 10.0  # seconds any wait in these tests may take at most


class Sink:
    """Records batches; fails the first `failures` sends; `gate` (when set) holds every send until opened."""

    def __init__(self, failures: int = 0) -> None:
        self.batches: list[list[Any]] = []
        self.attempts: list[float] = []
        self.failures = failures
        self.gate: asyncio.Event | None = None
        self.closed = False
        self.changed = asyncio.Event()

    async def send(self, batch: list[Any]) -> None:
        self.attempts.append(time.monotonic())
        self.changed.set()
        if self.gate is not None:
            await self.gate.wait()
        if len(self.attempts) <= self.failures:
            raise ConnectionError("collector down")
        self.batches.append(batch)

    async def aclose(self) -> None:
        self.closed = True

    async def until(self, check: Any) -> None:
        async with asyncio.timeout(WAIT):
            while not check():
                self.changed.clear()
                await self.changed.wait()


def dropped(reason: str) -> float:
    return DROPPED.get("test", reason)


async def test_full_batches_go_at_once_and_the_rest_after_the_coalescing_delay() -> None:
    sink = Sink()
    queue = Queue("test", "q", QueueConfig(max_batch_size=3, max_coalescing_delay=0.3), sink)
    started = time.monotonic()
    for n in range(7):
        queue.put(n)
    await sink.until(lambda: sum(map(len, sink.batches)) == 7)
    assert sink.batches == [[0, 1, 2], [3, 4, 5], [6]]
    assert sink.attempts[1] - started < 0.3 <= sink.attempts[2] - started  # only the partial batch waited


async def test_a_failed_batch_is_retried_with_doubling_delays_and_nothing_is_lost() -> None:
    sink = Sink(failures=4)
    queue = Queue("test", "q", QueueConfig(initial_retry_delay=0.02, max_retry_delay=0.05, max_retry_time=30), sink)
    queue.put("a")
    queue.put("b")
    await sink.until(lambda: len(sink.batches) == 2)
    assert sink.batches == [["a"], ["b"]]
    gaps = [later - earlier for earlier, later in zip(sink.attempts, sink.attempts[1:5], strict=False)]
    assert [round(gap, 3) >= delay for gap, delay in zip(gaps, (0.02, 0.04, 0.05, 0.05), strict=True)] == [True] * 4


async def test_a_batch_failing_past_max_retry_time_is_dropped_and_counted() -> None:
    before = dropped("retries")
    sink = Sink(failures=1000)
    queue = Queue("test", "q", QueueConfig(max_batch_size=2, max_coalescing_delay=0, initial_retry_delay=0.01,
                                           max_retry_time=0.05), sink)
    queue.put(1)
    queue.put(2)
    await sink.until(lambda: dropped("retries") - before == 2)
    assert sink.batches == []
    await queue.close()


async def test_a_full_queue_drops_its_oldest_entries() -> None:
    before = dropped("full")
    sink = Sink()
    sink.gate = asyncio.Event()
    queue = Queue("test", "q", QueueConfig(max_entries=3), sink)
    queue.put(0)
    await sink.until(lambda: sink.attempts)  # 0 is being sent (held)
    for n in range(1, 8):
        queue.put(n)
    assert dropped("full") - before == 4 and list(queue.entries) == [5, 6, 7]
    sink.gate.set()
    await sink.until(lambda: len(sink.batches) == 4)
    assert sink.batches == [[0], [5], [6], [7]]


async def test_close_sends_what_it_can_then_counts_the_rest() -> None:
    before = dropped("shutdown")
    sink = Sink()
    queue = Queue("test", "q", QueueConfig(max_batch_size=10, max_coalescing_delay=60), sink)
    for n in range(3):
        queue.put(n)
    await queue.close(timeout=WAIT)  # the coalescing delay does not hold a stopping worker: it sends
    assert sink.batches == [[0, 1, 2]] and dropped("shutdown") == before
    stuck = Sink()
    stuck.gate = asyncio.Event()
    queue = Queue("test", "q", QueueConfig(), stuck)
    queue.put("lost")
    queue.put("also lost")
    await stuck.until(lambda: stuck.attempts)
    await queue.close(timeout=0.05)
    assert dropped("shutdown") - before == 2


async def test_instances_share_a_queue_by_name_and_the_env_closes_it() -> None:
    env = PluginEnv()
    made: list[Sink] = []

    def make() -> Sink:
        made.append(Sink())
        return made[-1]

    first = shared_queue(env, "test", "name", QueueConfig(max_batch_size=1), make)
    second = shared_queue(env, "test", "name", QueueConfig(max_batch_size=2), make)
    assert first is second and len(made) == 1 and second.config.max_batch_size == 2
    first.put("x")
    await env.close()
    assert made[0].batches == [["x"]] and made[0].closed


def test_kongs_queue_fields_and_what_is_not_supported() -> None:
    assert QueueConfig() == QueueConfig(max_batch_size=1, max_coalescing_delay=1, max_entries=10000,
                                        max_retry_time=60, initial_retry_delay=0.01, max_retry_delay=60,
                                        concurrency_limit=1)
    for refused in ({"max_bytes": 1000}, {"concurrency_limit": -1}, {"max_batch_size": 0}, {"nope": 1}):
        with pytest.raises(ValidationError):
            QueueConfig.model_validate(refused)
