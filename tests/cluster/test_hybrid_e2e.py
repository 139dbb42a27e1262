"""Hybrid mode end to end with real processes: `oidcgate cp`, two `oidcgate dp`, the echo upstream.

Issue 5's "must show": a route added through the Admin API serves on both data planes within a
second; the runtime manager lists them; a wrong certificate is refused; an incompatible data plane
gets no config; with the control plane killed both keep serving, also after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from oidcgate import __version__
from oidcgate.cluster.client import ClusterClient
from oidcgate.config import load, parse_text
from oidcgate.plugins.registry import config_schema
from tests.cluster import topology
from tests.cluster.topology import ClusterFiles, ControlPlane, DataPlane
from tests.support.polling import wait_until, wait_until_async
from tests.support.postgres import throwaway_schema
from tests.support.processes import OIDCGATE, Proc, free_port

pytestmark = pytest.mark.e2e

SYNC_BUDGET = 1.0  # issue 5: changes reach every connected data plane within one second


@dataclass
class Hybrid:
    folder: Path
    files: ClusterFiles
    echo_url: str
    cp: ControlPlane
    dps: list[DataPlane]
    admin: httpx.Client


@pytest.fixture(scope="module")
def hybrid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hybrid]:
    folder = tmp_path_factory.mktemp("hybrid")
    files = topology.cluster_files(folder)
    with contextlib.ExitStack() as stack:
        echo_proc, echo_url = topology.echo(folder)
        stack.callback(echo_proc.stop)
        cp, dps = topology.control_plane_with_data_planes(stack, folder, files)
        admin = stack.enter_context(httpx.Client(base_url=cp.admin, timeout=10))
        yield Hybrid(folder, files, echo_url, cp, dps, admin)


def cp_hash(admin: httpx.Client) -> str:
    """The hash of the control plane's config, computed here from its export (GET /config)."""
    response = admin.get("/config")
    assert response.status_code == 200, response.text
    return load(parse_text(response.text), config_schema).hash


def data_planes(admin: httpx.Client) -> dict[str, dict[str, Any]]:
    """GET /clustering/data-planes by node id (rows stay listed after a disconnect, as in Kong)."""
    response = admin.get("/clustering/data-planes")
    assert response.status_code == 200, response.text
    return {row["id"]: row for row in response.json()["data"]}


def add_route(admin: httpx.Client, echo_url: str, name: str) -> None:
    """POST /services then POST /services/{name}/routes, as in Kong's getting-started guide."""
    service = admin.post("/services", json={"name": name, "url": echo_url})
    assert service.status_code == 201, service.text
    route = admin.post(f"/services/{name}/routes", json={"name": name, "paths": [f"/{name}"]})
    assert route.status_code == 201, route.text


def serves_url(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def serves(dp: DataPlane, path: str) -> bool:
    return serves_url(f"{dp.proxy}{path}/get")


def time_until_served(dps: list[DataPlane], path: str, timeout: float = 10.0) -> list[float]:
    """Seconds until each data plane first answered 200 on `path`, polled together every 10 ms."""
    started, reached = time.monotonic(), [-1.0] * len(dps)

    def all_served() -> bool:
        for index, dp in enumerate(dps):
            if reached[index] < 0 and serves(dp, path):
                reached[index] = time.monotonic() - started
        return min(reached) >= 0

    wait_until(all_served, timeout=timeout, what=f"{path} served by every data plane")
    return reached


def test_a_route_added_on_the_control_plane_serves_on_both_data_planes_within_a_second(hybrid: Hybrid) -> None:
    ids = [dp.node_id() for dp in hybrid.dps]
    wait_until(lambda: all(data_planes(hybrid.admin).get(i, {}).get("config_hash") == cp_hash(hybrid.admin)
                           for i in ids), timeout=20, interval=0.2)
    add_route(hybrid.admin, hybrid.echo_url, "within-a-second")
    latencies = time_until_served(hybrid.dps, "/within-a-second")
    print(f"route served on both data planes after {max(latencies) * 1000:.0f} ms ({latencies})")
    assert max(latencies) < SYNC_BUDGET, latencies


def test_runtime_manager_lists_both_data_planes_with_their_hash(hybrid: Hybrid) -> None:
    add_route(hybrid.admin, hybrid.echo_url, "listed")
    time_until_served(hybrid.dps, "/listed")
    expected = cp_hash(hybrid.admin)
    assert all(dp.config_hash() == expected for dp in hybrid.dps)
    ids = [dp.node_id() for dp in hybrid.dps]
    wait_until(lambda: [data_planes(hybrid.admin).get(i, {}).get("config_hash") for i in ids] == [expected] * 2,
               timeout=5, interval=0.1)
    rows = [data_planes(hybrid.admin)[i] for i in ids]
    assert {row["sync_status"] for row in rows} == {"normal"}
    assert {row["version"] for row in rows} == {__version__}
    assert {row["ip"] for row in rows} == {"127.0.0.1"}
    assert all(abs(row["last_seen"] - time.time()) < 30 for row in rows)
    summary = hybrid.admin.get("/clustering/status").json()
    assert summary["config_hash"] == expected
    assert summary["data_planes"]["in_sync"] >= 2


def test_a_data_plane_with_the_wrong_certificate_is_refused(hybrid: Hybrid) -> None:
    other = topology.cluster_files(hybrid.folder / "intruder")
    before = set(data_planes(hybrid.admin))
    intruder = topology.data_plane(hybrid.folder, other, hybrid.cp.cluster, "intruder")
    try:
        wait_until(lambda: "cluster certificate" in intruder.proc.output(), timeout=10, interval=0.1)
        response = httpx.get(f"{intruder.proxy}/listed/get", timeout=5)
        assert response.status_code == 503
        assert response.json() == {"message": "no configuration loaded yet"}
        assert not (intruder.prefix / "config.json").exists()
        assert set(data_planes(hybrid.admin)) == before
    finally:
        intruder.proc.stop()


def test_an_incompatible_data_plane_is_listed_and_gets_no_config(hybrid: Hybrid,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="oidcgate.cluster.client")
    major, minor = (int(part) for part in __version__.split(".")[:2])
    applied: list[dict[str, Any]] = []

    async def apply(doc: dict[str, Any]) -> str:
        applied.append(doc)
        return ""

    async def scenario() -> dict[str, Any]:
        client = ClusterClient(hybrid.cp.cluster, hybrid.files.cert, hybrid.files.key, apply, lambda: "",
                               node_id="0f0f0f0f-0000-4000-8000-000000000001", hostname="from-the-future",
                               version=f"{major}.{minor + 1}.0")
        task = asyncio.create_task(client.run())
        found: dict[str, Any] = {}

        async def listed() -> bool:
            rows = await asyncio.to_thread(data_planes, hybrid.admin)
            found.update(next((r for r in rows.values() if r["hostname"] == "from-the-future"), {}))
            return bool(found)

        try:
            await wait_until_async(listed, timeout=10, interval=0.1, what="the incompatible data plane listed")
            # The control plane says why it sends nothing: past that, no config is on its way.
            await wait_until_async(lambda: "no configuration sent" in caplog.text, timeout=10)
            return found
        finally:
            task.cancel()

    row = asyncio.run(scenario())
    assert row["sync_status"] == "kong_version_incompatible"
    assert row["version"] == f"{major}.{minor + 1}.0"
    assert applied == []


def test_the_runtime_script_starts_a_data_plane_that_joins(hybrid: Hybrid) -> None:
    add_route(hybrid.admin, hybrid.echo_url, "scripted")
    response = hybrid.admin.get("/clustering/runtime-script")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    proxy, status = free_port(), free_port()
    prefix, log = hybrid.folder / "scripted-dp", hybrid.folder / "scripted-dp.log"
    env = {**os.environ, "OIDCGATE_PREFIX": str(prefix), "PYTHONUNBUFFERED": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    with open(log, "wb") as output:
        popen = subprocess.Popen(["bash", "-s", "--", "--proxy-listen", f"127.0.0.1:{proxy}", "--status-listen",
                                  f"127.0.0.1:{status}", "--workers", "1"], stdin=subprocess.PIPE, stdout=output,
                                 stderr=subprocess.STDOUT, env=env, start_new_session=True)
    scripted = Proc(["runtime-script"], popen, log)
    try:
        assert popen.stdin is not None
        popen.stdin.write(response.content)
        popen.stdin.close()
        wait_until(lambda: serves_url(f"http://127.0.0.1:{proxy}/scripted/get"), timeout=20, interval=0.1)
        assert (prefix / "cluster.key").stat().st_mode & 0o777 == 0o600
        expected = cp_hash(hybrid.admin)
        wait_until(lambda: data_planes(hybrid.admin).get(topology.node_id(prefix), {}).get("config_hash")
                   == expected, timeout=5, interval=0.1)
    finally:
        scripted.stop()


def test_data_planes_keep_serving_without_the_control_plane_also_after_a_restart(hybrid: Hybrid) -> None:
    add_route(hybrid.admin, hybrid.echo_url, "cached")
    time_until_served(hybrid.dps, "/cached")
    hybrid.cp.proc.stop(signal.SIGKILL)
    for _ in range(5):
        assert all(serves(dp, "/cached") for dp in hybrid.dps)
        time.sleep(0.1)
    restarted = hybrid.dps[0]
    restarted.restart()  # the control plane is still down: the data plane starts from its prefix
    wait_until(lambda: serves(restarted, "/cached"), timeout=10, interval=0.05)
    assert serves(hybrid.dps[1], "/cached")
    # it does try the control plane, and carries on serving
    wait_until(lambda: "control plane" in restarted.proc.output() and "unavailable" in restarted.proc.output(),
               timeout=10, interval=0.1)
    assert serves(restarted, "/cached")


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A fresh PostgreSQL schema on the machine's server (database `test`), dropped afterwards."""
    with throwaway_schema("cluster_e2e") as url:
        yield url


def test_several_control_planes_on_one_postgresql_each_push_changes_made_through_any(
        tmp_path: Path, pg_schema_url: str) -> None:
    migrated = subprocess.run([*OIDCGATE, "cp", "migrate", "--database", pg_schema_url, "--prefix",
                               str(tmp_path / "migrate")], capture_output=True, text=True, timeout=60)
    assert migrated.returncode == 0, migrated.stderr
    files = topology.cluster_files(tmp_path)
    with contextlib.ExitStack() as stack:
        echo_proc, echo_url = topology.echo(tmp_path)
        stack.callback(echo_proc.stop)
        nodes = []
        for name in ("cp-a", "cp-b"):
            nodes.append(topology.control_plane(tmp_path, files, name, database=pg_schema_url))
            stack.callback(nodes[-1].stop)
        dps = []
        for name, node in (("dp-a", nodes[0]), ("dp-b", nodes[1])):  # one data plane on each node
            dps.append(topology.data_plane(tmp_path, files, node.cluster, name))
            stack.callback(dps[-1].stop)
        admins = [stack.enter_context(httpx.Client(base_url=node.admin, timeout=10)) for node in nodes]
        wait_until(lambda: set(data_planes(admins[0])) == {dp.node_id() for dp in dps}, timeout=20, interval=0.2)
        for through, admin in zip(("b", "a"), (admins[1], admins[0]), strict=True):
            add_route(admin, echo_url, f"through-{through}")
            latencies = time_until_served(dps, f"/through-{through}")
            print(f"change made through cp-{through} served by both data planes after {latencies}")
            assert max(latencies) < SYNC_BUDGET, (through, latencies)
        expected = cp_hash(admins[0])
        assert cp_hash(admins[1]) == expected
        for admin in admins:  # the status table is shared: each node shows every data plane
            wait_until(lambda admin=admin: [r["config_hash"] for r in data_planes(admin).values()] == [expected] * 2,
                       timeout=15, interval=0.2)  # a fresh schema: these two are the only rows
