"""The machine's Redis (127.0.0.1:6379) for tests: a key prefix of their own, removed afterwards.

Redis being down is an error, never a skip. Processes started by a test get the same prefix through
their plugin config (`redis.prefix` / the feature's prefix field), so cleanup covers them too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator

import redis

HOST, PORT = "127.0.0.1", 6379
DATABASE = 9  # the test suite's own database number on the machine's Redis


@contextlib.contextmanager
def redis_prefix(label: str) -> Iterator[str]:
    """Yield a unique key prefix `<label>-<random>:`; delete every key that holds it at the end."""
    with removing_keys_with(f"{label}-{uuid.uuid4().hex[:12]}:") as prefix:
        yield prefix


@contextlib.contextmanager
def removing_keys_with(fragment: str) -> Iterator[str]:
    """Yield `fragment` (unique to the test, e.g. a random entity id its keys hold); delete its keys at the end."""
    client = redis.Redis(host=HOST, port=PORT, db=DATABASE, socket_timeout=5, socket_connect_timeout=5)
    client.ping()
    try:
        yield fragment
    finally:
        keys = list(client.scan_iter(match=f"*{fragment}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def keys_with(prefix: str) -> list[bytes]:
    """Every key in the test database that holds `prefix` (to show what a process wrote)."""
    with contextlib.closing(redis.Redis(host=HOST, port=PORT, db=DATABASE, socket_timeout=5)) as client:
        return sorted(client.scan_iter(match=f"*{prefix}*", count=1000))


def kill_subscriptions(pid: int | None = None) -> int:
    """CLIENT KILL the pub/sub connections of process `pid` (default: this one), found by their client
    name (`oidcgate-sub-<pid>`), so no other process's connection is touched; how many were killed."""
    name = f"oidcgate-sub-{pid or os.getpid()}"
    with contextlib.closing(redis.Redis(host=HOST, port=PORT, db=DATABASE, socket_timeout=5)) as client:
        ours = [entry["id"] for entry in client.client_list(_type="pubsub") if entry.get("name") == name]
        for client_id in ours:
            client.client_kill_filter(_id=client_id)
    return len(ours)


def publish(channel: str, message: str) -> int:
    """PUBLISH as another writer would (e.g. a test that rewrites a stored record); how many heard it."""
    with contextlib.closing(redis.Redis(host=HOST, port=PORT, db=DATABASE, socket_timeout=5)) as client:
        return int(client.publish(channel, message))


def delete(*keys: bytes) -> int:
    """DEL without announcing it, as a hand-made change behind the gateway's back would."""
    with contextlib.closing(redis.Redis(host=HOST, port=PORT, db=DATABASE, socket_timeout=5)) as client:
        return int(client.delete(*keys))
class Relay:
    """A loopback TCP relay to the machine's Redis that a test can cut: Redis going down in the middle of
    something, for real (every connection closed, new ones refused), without touching the Redis others use.

        async with Relay() as relay:
            config = RedisConfig(port=relay.port, database=DATABASE)
            ...
            await relay.cut()
    """

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._pumps: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Relay:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.cut()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(HOST, PORT)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, upstream_writer}
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            task = asyncio.create_task(self._pump(source, sink))
            self._pumps.add(task)
            task.add_done_callback(self._pumps.discard)

    @staticmethod
    async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        sink.close()

    async def cut(self) -> None:
        """Refuse new connections and close the open ones."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        for task in list(self._pumps):
            task.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)
