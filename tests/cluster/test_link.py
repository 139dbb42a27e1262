"""ClusterServer + ClusterClient in one process, over real TLS sockets on free loopback ports."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import re
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidMessage, InvalidStatus

from oidcgate.analytics.histogram import SIZE
from oidcgate.cluster import protocol, tls
from oidcgate.cluster.client import AnalyticsOutbox, ClusterClient, backoff_delay
from oidcgate.cluster.protocol import Analytics, DataPlaneStatus, Error, Hello, SyncStatus, UsageRow
from oidcgate.cluster.server import ClusterServer
from oidcgate.config import EMPTY, ConfigError, load
from oidcgate.config.declarative import config_hash
from oidcgate.plugins.registry import config_schema
from tests.cluster.conftest import CertPair
from tests.support.polling import wait_until_async
from tests.support.processes import free_port

VERSION = "0.4.0"
PUSHES = 30  # ~1 MB each in the latest-wins test: several times what the kernel buffers on loopback
REFUSED = (ssl.SSLError, ConnectionClosed, InvalidMessage, ConnectionResetError, BrokenPipeError)


def document(n: int, plugins: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"_format_version": "3.0", "services": [
        {"name": f"svc{n}", "host": "127.0.0.1", "port": 9090, "routes": [{"name": f"r{n}", "paths": [f"/r{n}"]}]},
    ]}
    if plugins:
        doc["plugins"] = plugins
    return doc


class ControlPlane:
    """What `oidcgate cp` gives the server: the exported snapshot and a status sink."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.reports: list[DataPlaneStatus] = []
        self.set(doc)

    def set(self, doc: dict[str, Any]) -> None:
        snapshot = load(doc, config_schema)
        self.doc, self.hash = snapshot.to_declarative(), snapshot.hash

    async def snapshot(self) -> tuple[dict[str, Any], str]:
        return self.doc, self.hash

    async def on_status(self, status: DataPlaneStatus) -> None:
        self.reports.append(status)


class DataPlane:
    """What the DP master gives the client: validate-and-swap (like the proxy's intake) and the current hash."""

    def __init__(self, hash_of: Callable[[dict[str, Any]], str] = lambda doc: load(doc, config_schema).hash) -> None:
        self.hash = EMPTY.hash
        self.applied: list[str] = []
        self.hash_of = hash_of

    async def apply(self, doc: dict[str, Any]) -> str:
        self.hash = self.hash_of(doc)
        self.applied.append(self.hash)
        return self.hash

    def current_hash(self) -> str:
        return self.hash


@contextlib.asynccontextmanager
async def serving(cp: ControlPlane, pair: CertPair, port: int = 0, **kwargs: Any) -> AsyncIterator[ClusterServer]:
    server = ClusterServer(f"127.0.0.1:{port}", pair.cert, pair.key, cp.snapshot, cp.on_status, VERSION, **kwargs)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def syncing(dp: DataPlane, pair: CertPair, port: int, node_id: str = "node-1",
                  **kwargs: Any) -> AsyncIterator[ClusterClient]:
    options: dict[str, Any] = {"plugins": {}, "version": VERSION, **kwargs}
    client = ClusterClient(f"127.0.0.1:{port}", pair.cert, pair.key, dp.apply, dp.current_hash,
                           node_id=node_id, hostname=f"host-{node_id}", **options)
    task = asyncio.create_task(client.run())
    try:
        yield client
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_full_snapshot_on_connect_and_on_push(cluster_cert: CertPair, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="oidcgate.cluster.server")
    cp = ControlPlane(document(1))
    one, two = DataPlane(), DataPlane()
    async with serving(cp, cluster_cert) as server, \
            syncing(one, cluster_cert, server.port, "node-1", heartbeat_interval=0.2), \
            syncing(two, cluster_cert, server.port, "node-2", heartbeat_interval=0.2):
        await wait_until_async(lambda: one.hash == two.hash == cp.hash)
        await wait_until_async(lambda: {s.config_hash for s in server.statuses()} == {cp.hash}
                         and len(server.statuses()) == 2)
        cp.set(document(2))
        started = time.monotonic()
        await server.push()
        await wait_until_async(lambda: one.hash == two.hash == cp.hash, timeout=1.0)
        assert time.monotonic() - started < 1.0
        assert one.applied == two.applied == [load(document(1), config_schema).hash, cp.hash]
        caplog.clear()
        await server.push()  # nothing changed: nothing is queued again
        assert "queued for 0 of 2 data planes" in caplog.text and len(one.applied) == 2
        await wait_until_async(lambda: any(r.id == "node-1" and r.config_hash == cp.hash for r in cp.reports))
        status = next(s for s in server.statuses() if s.id == "node-2")
        assert (status.ip, status.hostname, status.version, status.sync_status) == (
            "127.0.0.1", "host-node-2", VERSION, "normal")
        assert abs(status.last_seen - time.time()) < 5
    last = {r.id: r for r in cp.reports}
    assert set(last) == {"node-1", "node-2"}  # the disconnects were reported too, with the final hash
    assert last["node-1"].config_hash == cp.hash


async def test_heartbeats_keep_last_seen_fresh(cluster_cert: CertPair) -> None:
    cp = ControlPlane(document(1))
    dp = DataPlane()
    async with serving(cp, cluster_cert) as server, syncing(dp, cluster_cert, server.port, heartbeat_interval=0.1):
        await wait_until_async(lambda: dp.hash == cp.hash)
        count = len(cp.reports)
        await wait_until_async(lambda: len(cp.reports) - count >= 3, what="three heartbeats reported")


async def test_wrong_or_missing_certificate_is_refused_at_the_handshake(
        cluster_cert: CertPair, other_cert: CertPair, caplog: pytest.LogCaptureFixture) -> None:
    cp = ControlPlane(document(1))
    async with serving(cp, cluster_cert) as server:
        uri = f"wss://127.0.0.1:{server.port}{protocol.PATH}"
        for client_pair in (other_cert, None):  # a wrong certificate, no certificate; both trust the CP's
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
            context.load_verify_locations(cluster_cert.cert)
            if client_pair is not None:
                context.load_cert_chain(client_pair.cert, client_pair.key)
            with pytest.raises(REFUSED):
                async with connect(uri, ssl=context, proxy=None, open_timeout=5) as connection:
                    await connection.send(protocol.encode(Hello("intruder", "x", VERSION, "")))
                    await connection.recv()
            assert await asyncio.to_thread(_tls12_handshake_error, server.port, context) != "handshake completed"
        dp = DataPlane()
        async with syncing(dp, other_cert, server.port, backoff_initial=0.1, backoff_max=0.2) as client:
            await wait_until_async(lambda: caplog.text.count("retrying in") >= 3, what="three refused attempts")
            assert not client.connected
        assert dp.applied == [] and cp.reports == [] and server.statuses() == []
        assert "its certificate is not this data plane's cluster certificate" in caplog.text


async def test_data_plane_refuses_a_control_plane_without_the_shared_certificate(
        cluster_cert: CertPair, other_cert: CertPair, caplog: pytest.LogCaptureFixture) -> None:
    cp = ControlPlane(document(1))
    async with serving(cp, other_cert) as impostor:
        with pytest.raises(ssl.SSLCertVerificationError):
            async with connect(f"wss://127.0.0.1:{impostor.port}{protocol.PATH}", proxy=None,
                               ssl=tls.client_context(cluster_cert.cert, cluster_cert.key)):
                pass
        dp = DataPlane()
        async with syncing(dp, cluster_cert, impostor.port, backoff_initial=0.1, backoff_max=0.2):
            await wait_until_async(lambda: caplog.text.count("retrying in") >= 3, what="three refused attempts")
        assert dp.applied == []
        assert "its certificate is not this data plane's cluster certificate" in caplog.text


async def test_server_name_is_checked_when_given(cluster_cert: CertPair, caplog: pytest.LogCaptureFixture) -> None:
    cp = ControlPlane(document(1))
    good, bad = DataPlane(), DataPlane()
    async with serving(cp, cluster_cert) as server, \
            syncing(good, cluster_cert, server.port, "good", server_name="oidcgate_clustering"), \
            syncing(bad, cluster_cert, server.port, "bad", server_name="cp.example.com", backoff_initial=0.1):
        await wait_until_async(lambda: good.hash == cp.hash)
        await wait_until_async(lambda: caplog.text.count("retrying in") >= 2, what="two refused attempts")
        assert bad.applied == [] and "not valid for 'cp.example.com'" in caplog.text


async def test_reconnects_with_backoff_after_the_control_plane_restarts(
        cluster_cert: CertPair, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="oidcgate.cluster.client")
    port = free_port()
    cp = ControlPlane(document(1))
    dp = DataPlane()
    async with syncing(dp, cluster_cert, port, backoff_initial=0.2, backoff_max=0.8,
                       heartbeat_interval=0.3) as client:
        async with serving(cp, cluster_cert, port):
            await wait_until_async(lambda: dp.hash == cp.hash)
            synced = len(cp.reports)
            # Two more reports: at least one periodic heartbeat, so the link was healthy for longer than a
            # heartbeat interval, which resets the backoff.
            await wait_until_async(lambda: len(cp.reports) >= synced + 2)
            caplog.clear()
        # Control plane down: the client keeps trying, slower each time.
        await wait_until_async(lambda: caplog.text.count("retrying in") >= 4, what="four retries")
        assert not client.connected and dp.hash == cp.hash
        delays = [float(d) for d in re.findall(r"retrying in ([0-9.]+) s", caplog.text)]
        for attempt, delay in enumerate(delays):
            ceiling = min(0.8, 0.2 * 2 ** attempt)
            assert ceiling / 2 - 0.05 <= delay <= ceiling + 0.05, (attempt, delays)
        cp.set(document(2))
        async with serving(cp, cluster_cert, port):
            waited = await wait_until_async(lambda: dp.hash == cp.hash, timeout=3.0)
        assert waited <= 0.8 + 0.5  # at most one maximum delay plus the handshake


def usage_report(minute: int) -> Analytics:
    return Analytics(minute, (UsageRow(None, "", None, "", None, "", {404: minute // 60}, (minute // 60,
                                                                                      *([0] * (SIZE - 1)))),))


async def test_analytics_reports_reach_the_control_plane_in_order_and_survive_an_outage(
        cluster_cert: CertPair) -> None:
    port = free_port()
    cp, dp, outbox = ControlPlane(document(1)), DataPlane(), AnalyticsOutbox()
    received: list[Analytics] = []

    async def record(report: Analytics) -> None:
        received.append(report)

    reports = [usage_report(60 * n) for n in range(1, 5)]
    outbox.put(reports[0])  # queued before there is a link
    async with syncing(dp, cluster_cert, port, backoff_initial=0.1, backoff_max=0.2, analytics=outbox):
        async with serving(cp, cluster_cert, port, on_analytics=record):
            await wait_until_async(lambda: received == reports[:1])
            outbox.put(reports[1])
            await wait_until_async(lambda: received == reports[:2])
        outbox.put(reports[2])  # the control plane is down: kept
        outbox.put(reports[3])
        assert len(outbox) == 2
        async with serving(cp, cluster_cert, port, on_analytics=record):
            await wait_until_async(lambda: received == reports)
    assert len(outbox) == 0


async def test_a_control_plane_that_takes_no_analytics_is_sent_none(cluster_cert: CertPair,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    cp, dp, outbox = ControlPlane(document(1)), DataPlane(), AnalyticsOutbox()
    outbox.put(usage_report(60))
    async with serving(cp, cluster_cert) as server, \
            syncing(dp, cluster_cert, server.port, heartbeat_interval=0.1, analytics=outbox):
        await wait_until_async(lambda: "does not take analytics reports" in caplog.text)
        count = len(cp.reports)
        await wait_until_async(lambda: len(cp.reports) >= count + 2)  # heartbeats go on: the link stayed up
        assert [s.id for s in server.statuses()] == ["node-1"]
    assert len(outbox) == 1  # kept for a control plane that takes it


def test_backoff_doubles_up_to_a_bound_with_jitter() -> None:
    assert [backoff_delay(n, 1.0, 30.0, rand=lambda: 1.0) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert [backoff_delay(n, 1.0, 30.0, rand=lambda: 0.0) for n in range(7)] == [0.5, 1, 2, 4, 8, 15, 15]
    assert backoff_delay(10_000, 1.0, 30.0) <= 30.0


async def test_refused_config_is_reported_and_the_old_one_kept(cluster_cert: CertPair,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="oidcgate.cluster.server")
    cp = ControlPlane(document(1))
    dp = DataPlane()
    async with serving(cp, cluster_cert) as server, syncing(dp, cluster_cert, server.port):
        await wait_until_async(lambda: dp.hash == cp.hash)
        good = cp.hash
        cp.doc, cp.hash = {"_format_version": "3.0", "services": [{"name": "x"}]}, "f" * 32  # no host
        with pytest.raises(ConfigError):
            load(cp.doc, config_schema)
        await server.push()
        await wait_until_async(lambda: "refused config " + "f" * 32 in caplog.text)
        assert "services[0].host: required field missing" in caplog.text
        assert dp.hash == good and dp.applied == [good]


async def test_incompatible_data_planes_get_no_config(cluster_cert: CertPair,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="oidcgate.cluster.client")
    cp = ControlPlane(document(1))
    # A plugin this test process may not have installed: the data planes here only record what they get.
    cp.doc, cp.hash = {**cp.doc, "plugins": [{"name": "correlation-id", "config": {}}]}, "c" * 32
    planes = {name: DataPlane(lambda doc: "c" * 32 if "plugins" in doc else load(doc, config_schema).hash)
              for name in ("newer", "other-major", "no-plugin", "plugin-major", "fine")}
    clients = {
        "newer": {"version": "0.5.0", "plugins": {"correlation-id": "1.2.0"}},
        "other-major": {"version": "1.0.0", "plugins": {"correlation-id": "1.2.0"}},
        "no-plugin": {"version": VERSION, "plugins": {}},
        "plugin-major": {"version": "0.3.1", "plugins": {"correlation-id": "2.0.0"}},
        "fine": {"version": "0.3.1", "plugins": {"correlation-id": "1.0.0"}},
    }
    async with serving(cp, cluster_cert, plugins={"correlation-id": "1.2.0"}) as server, \
            contextlib.AsyncExitStack() as stack:
        for name, options in clients.items():
            await stack.enter_async_context(syncing(planes[name], cluster_cert, server.port, name, **options))
        await wait_until_async(lambda: len(server.statuses()) == 5)
        await wait_until_async(lambda: planes["fine"].applied != [])
        told = ("no configuration sent: data plane minor version 5 is newer than control plane minor version 4",
                "plugin 'correlation-id' is configured but missing from the data plane",
                "data plane major version 1 is different", "(major versions differ)")
        await wait_until_async(lambda: all(why in caplog.text for why in told), what="every refusal explained")
        statuses = {s.id: s.sync_status for s in server.statuses()}
        assert statuses == {
            "newer": SyncStatus.KONG_VERSION_INCOMPATIBLE, "other-major": SyncStatus.KONG_VERSION_INCOMPATIBLE,
            "no-plugin": SyncStatus.PLUGIN_SET_INCOMPATIBLE, "plugin-major": SyncStatus.PLUGIN_VERSION_INCOMPATIBLE,
            "fine": SyncStatus.NORMAL,
        }
        assert {s.id: s.sync_status for s in cp.reports if s.id != "fine"} == {
            k: v for k, v in statuses.items() if k != "fine"}
        assert all(planes[name].applied == [] for name in statuses if name != "fine")
        cp.set(document(2))  # the plugin is gone: the data plane lacking it may now have the config
        await server.push()
        await wait_until_async(lambda: planes["no-plugin"].hash == cp.hash)
        assert {s.id: s.sync_status for s in server.statuses()}["no-plugin"] == SyncStatus.NORMAL
        assert planes["newer"].applied == []


async def test_a_reconnecting_node_replaces_its_old_link(cluster_cert: CertPair) -> None:
    cp = ControlPlane(document(1))
    first, second = DataPlane(), DataPlane()
    async with serving(cp, cluster_cert) as server, \
            syncing(first, cluster_cert, server.port, "same-node", backoff_initial=5.0) as old:
        await wait_until_async(lambda: first.hash == cp.hash)
        async with syncing(second, cluster_cert, server.port, "same-node"):
            await wait_until_async(lambda: second.hash == cp.hash)
            await wait_until_async(lambda: not old.connected)
            assert [s.id for s in server.statuses()] == ["same-node"]


async def test_malformed_hello_and_wrong_path(cluster_cert: CertPair) -> None:
    cp = ControlPlane(document(1))
    context = tls.client_context(cluster_cert.cert, cluster_cert.key)
    async with serving(cp, cluster_cert) as server:
        async with connect(f"wss://127.0.0.1:{server.port}{protocol.PATH}", ssl=context, proxy=None) as connection:
            await connection.send('{"type": "heartbeat", "config_hash": ""}')
            reply = protocol.decode(await connection.recv())
            assert reply == Error(message="the first message must be a hello")
            with pytest.raises(ConnectionClosed) as closed:
                await connection.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1002
        with pytest.raises(InvalidStatus) as rejected:
            async with connect(f"wss://127.0.0.1:{server.port}/elsewhere", ssl=context, proxy=None):
                pass
        assert rejected.value.response.status_code == 404
        assert cp.reports == []


async def test_latest_wins_for_a_slow_data_plane(cluster_cert: CertPair) -> None:
    """A data plane that stops reading gets only the newest of many big pushes, and delays nobody."""
    versions = [f"{n:032x}" for n in range(PUSHES + 1)]
    current = {"n": 0}

    async def snapshot() -> tuple[dict[str, Any], str]:
        n = current["n"]
        noise = base64.b64encode(os.urandom(750_000)).decode() if n else ""  # ~1 MB, barely compressible
        return {"_format_version": "3.0", "_comment": noise, "_info": {"n": n}}, versions[n]

    async def on_status(status: DataPlaneStatus) -> None:
        return None

    server = ClusterServer("127.0.0.1:0", cluster_cert.cert, cluster_cert.key, snapshot, on_status, VERSION)
    await server.start()
    fast_seen: list[int] = []

    async def fast_apply(doc: dict[str, Any]) -> str:
        fast_seen.append(doc["_info"]["n"])
        return versions[doc["_info"]["n"]]

    fast = ClusterClient(f"127.0.0.1:{server.port}", cluster_cert.cert, cluster_cert.key, fast_apply,
                         lambda: versions[fast_seen[-1]] if fast_seen else "", "fast", "fast", VERSION, plugins={})
    fast_task = asyncio.create_task(fast.run())
    try:
        async with _stalled_data_plane(server.port, cluster_cert) as (slow_frames, resume):
            await wait_until_async(lambda: fast_seen == [0] and len(server.statuses()) == 2)
            started = time.monotonic()
            for n in range(1, PUSHES + 1):
                current["n"] = n
                await server.push()
                await wait_until_async(lambda n=n: fast_seen[-1] == n, timeout=2.0)  # type: ignore[misc]
            elapsed = time.monotonic() - started
            assert elapsed < PUSHES * 0.2, f"pushes were held up by the stalled data plane: {elapsed:.1f}s"
            resume()
            await wait_until_async(lambda: bool(slow_frames) and slow_frames[-1] == PUSHES, timeout=10.0)
            assert slow_frames[0] == 0 and slow_frames == sorted(slow_frames)
            # What the socket buffers held when it stalled arrives; everything queued later collapsed into one.
            assert len(slow_frames) < PUSHES * 2 // 3, slow_frames
            assert fast_seen == list(range(PUSHES + 1))
    finally:
        fast_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await fast_task
        await server.stop()


def _tls12_handshake_error(port: int, context: ssl.SSLContext) -> str:
    """How the handshake ends. With TLS 1.2 the server checks the client certificate before its
    Finished, so a refusal shows in the client's handshake itself (TLS 1.3 reports it only later)."""
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        try:
            context.wrap_socket(raw, server_hostname="oidcgate_clustering").close()
        except (ssl.SSLError, ConnectionResetError) as exc:
            return type(exc).__name__
    return "handshake completed"


@contextlib.asynccontextmanager
async def _stalled_data_plane(port: int, pair: CertPair) -> AsyncIterator[tuple[list[int], Callable[[], None]]]:
    """A data plane with a tiny receive buffer that says hello and then stops reading until resumed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)  # fixed: no autotuning to many MB
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    received: list[int] = []
    reading = asyncio.Event()
    async with connect(f"wss://127.0.0.1:{port}{protocol.PATH}", sock=sock, proxy=None, max_queue=1,
                       max_size=None, server_hostname="oidcgate_clustering",
                       ssl=tls.client_context(pair.cert, pair.key)) as connection:
        await connection.send(protocol.encode(Hello("slow", "slow", VERSION, "")))

        async def read() -> None:
            with contextlib.suppress(ConnectionClosed):
                first = protocol.decode(await connection.recv())
                received.append(first.config["_info"]["n"])  # type: ignore[union-attr]
                await reading.wait()
                async for frame in connection:
                    received.append(protocol.decode(frame).config["_info"]["n"])  # type: ignore[union-attr]

        reader = asyncio.create_task(read())
        try:
            yield received, reading.set
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader



async def test_an_older_data_plane_gets_a_copy_it_can_load(cluster_cert: CertPair,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """Kong's compatible payload: consumer groups and the new openid-connect fields taken out for a 0.1 data
    plane (with a warning), the whole config for a current one; each reports the hash of what it runs."""
    caplog.set_level(logging.WARNING, logger="oidcgate.cluster.server")
    oidc = {"name": "openid-connect", "config": {"issuer": "http://127.0.0.1:9/oauth2/default", "anonymous": "a"}}
    cp = ControlPlane({**document(1, [oidc]), "consumer_groups": [{"name": "gold"}]})
    received: dict[str, list[dict[str, Any]]] = {"old": [], "current": []}

    def recording(name: str) -> DataPlane:
        def hash_of(doc: dict[str, Any]) -> str:  # a data plane hashes what it loads (here: as it came)
            received[name].append(doc)
            return config_hash(doc)
        return DataPlane(hash_of)

    old, current = recording("old"), recording("current")
    plugins = {"openid-connect": "0.1.0"}
    async with serving(cp, cluster_cert, plugins={"openid-connect": "0.2.0"}) as server, \
            syncing(old, cluster_cert, server.port, "old", version="0.1.0", plugins=plugins), \
            syncing(current, cluster_cert, server.port, "current", plugins=plugins):
        await wait_until_async(lambda: received["old"] != [] and received["current"] != [])
        (got,), (full,) = received["old"], received["current"]
        assert full == cp.doc and current.hash == cp.hash
        assert "consumer_groups" not in got and "anonymous" not in got["plugins"][0]["config"]
        assert old.hash == config_hash(got) != cp.hash
        await wait_until_async(lambda: {s.id: s.config_hash for s in server.statuses()} == {"old": old.hash,
                                                                                       "current": cp.hash})
        assert {s.sync_status for s in server.statuses()} == {SyncStatus.NORMAL}
        await server.push()  # the same snapshot again: nothing is sent twice
        await asyncio.sleep(0.2)
        assert len(received["old"]) == len(received["current"]) == 1
    assert "oidcgate 0.4.0: 'consumer_groups' are not known to data plane version 0.1.0 and will be removed" \
        in caplog.text
    assert "openid-connect plugin contains configuration 'anonymous' which is incompatible" in caplog.text
