"""The store as a cluster of CP nodes sees it: versions, caches across nodes, change signalling."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import Engine

from oidcgate.config import load
from oidcgate.controlplane import watcher
from oidcgate.controlplane.errors import SchemaViolation
from oidcgate.controlplane.store import Store
from oidcgate.plugins.registry import config_schema
from tests.support.polling import wait_until_async


def test_every_write_bumps_the_version_once(store: Store) -> None:
    start = store.version()
    service = store.create("services", {"name": "s", "host": "a.internal"})
    store.update("services", "s", {"retries": 1})
    store.upsert("services", "s", {"host": "b.internal"})
    assert store.version() == start + 3
    store.delete("services", "nothing-here")  # nothing deleted: no change, no new version
    with pytest.raises(SchemaViolation):
        store.create("services", {"host": "bad host"})  # refused: rolled back with its version bump
    assert store.version() == start + 3
    store.delete("services", service["id"])
    assert store.version() == start + 4


def test_two_nodes_on_one_database_see_each_others_writes(backend: str, engines: dict[str, Engine],
                                                           store: Store) -> None:
    other = Store(engines[backend])  # a second CP node: its own cache
    store.create("services", {"name": "s1", "host": "a.internal"})
    other.create("services", {"name": "s2", "host": "b.internal"})  # its cache was empty: it reads first
    store.create("services", {"name": "s3", "host": "c.internal"})  # stale cache detected by version
    with pytest.raises(Exception, match="UNIQUE"):
        other.create("services", {"name": "s3", "host": "d.internal"})
    for node in (store, other):
        document, config_hash = node.export()
        assert [s["name"] for s in document["services"]] == sorted(["s1", "s2", "s3"], key=lambda n: next(
            s["id"] for s in document["services"] if s["name"] == n))
        assert config_hash == load(document, config_schema).hash
    assert store.export() == other.export()


async def test_watcher_sees_a_write_made_through_another_node(backend: str, engines: dict[str, Engine],
                                                              store: Store) -> None:
    other = Store(engines[backend])
    changes: list[tuple[int, float]] = []

    async def on_change(version: int) -> None:
        changes.append((version, time.monotonic()))

    reads: list[int] = []

    async def read_version() -> int:
        reads.append(await store.version_async())
        return reads[-1]

    task = asyncio.create_task(watcher.watch(read_version, on_change, interval=0.05))
    try:
        await wait_until_async(lambda: bool(reads), what="the watcher's first read")  # what it compares with
        written_at = time.monotonic()
        created = await asyncio.to_thread(other.create, "services", {"name": "x", "host": "a.internal"})
        await wait_until_async(lambda: bool(changes), timeout=2, what="the watcher noticing the write")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    version, seen_at = changes[0]
    assert version == store.version() and seen_at - written_at < 0.25
    assert (await store.export_async())[0]["services"][0]["id"] == created["id"]


async def test_watcher_survives_a_failing_callback() -> None:
    versions = iter(range(1, 100))
    calls: list[int] = []

    async def version() -> int:
        return next(versions)

    async def flaky(value: int) -> None:
        calls.append(value)
        if len(calls) == 1:
            raise RuntimeError("push failed")

    task = asyncio.create_task(watcher.watch(version, flaky, interval=0.01))
    try:
        await wait_until_async(lambda: len(calls) >= 3, what="calls after the failing one")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert calls == sorted(calls)


def test_replace_all_then_incremental_write_keeps_hash_consistent(store: Store) -> None:
    store.replace_all({"_format_version": "3.0", "services": [
        {"name": f"s{i}", "url": f"http://h{i}.internal", "routes": [{"paths": [f"/p{i}"]}]} for i in range(50)]})
    store.create("plugins", {"name": "correlation-id"})
    document, config_hash = store.export()
    assert len(document["services"]) == 50 and len(document["routes"]) == 50 and len(document["plugins"]) == 1
    assert load(document, config_schema).hash == config_hash
