"""`oidcgate cp` as a real process: migrations at start, admin token, exposure refusal, hybrid mode."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from oidcgate import __version__
from oidcgate.cluster import certs
from oidcgate.cluster.client import ClusterClient
from oidcgate.controlplane import database, migrate
from tests.controlplane.cp_process import fresh_pg_schema, oidcgate, running_cp
from tests.support.polling import wait_until_async
from tests.support.private import loosen, modes, private
from tests.support.processes import free_port

pytestmark = pytest.mark.e2e


def test_default_embedded_database_is_created_and_migrated(tmp_path: Path) -> None:
    prefix = tmp_path / "cp"
    with running_cp(prefix, gui=True) as cp:
        assert httpx.post(f"{cp.admin}/services", data={"name": "s", "url": "http://a.internal"}).status_code == 201
        gui = httpx.get(f"http://127.0.0.1:{cp.gui_port}/", follow_redirects=True)
        assert gui.status_code == 200 and "text/html" in gui.headers["content-type"]
    assert (prefix / "oidcgate.db").is_file() and (prefix / "node_id").is_file()
    with running_cp(prefix) as cp:  # a second start reuses the state
        assert httpx.get(f"{cp.admin}/services/s").status_code == 200


def test_state_is_private_and_loose_files_are_tightened_at_start(tmp_path: Path) -> None:
    prefix = tmp_path / "cp"
    db, node = prefix / "oidcgate.db", prefix / "node_id"
    wal = [prefix / f"oidcgate.db-{suffix}" for suffix in ("wal", "shm")]  # WAL mode: there while it runs
    with running_cp(prefix) as cp:
        assert httpx.post(f"{cp.admin}/services", data={"name": "s", "url": "http://a.internal"}).status_code == 201
        assert modes(prefix, db, node, *wal) == private(dirs=(prefix,), files=(db, node, *wal))
    loosen(db, node)
    with running_cp(prefix) as cp:
        assert httpx.get(f"{cp.admin}/services/s").status_code == 200
        assert modes(db, node) == private(files=(db, node))
        assert f"{db} was accessible to other users (mode 0644): changed to 0600" in cp.proc.output()


def test_unmigrated_and_older_databases_are_refused_until_migrated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'explicit.db'}"
    free = str(free_port())
    refused = oidcgate("cp", "--database", url, "--prefix", str(tmp_path / "p"), "--admin-listen",
                       f"127.0.0.1:{free}", "--gui-listen", "off")
    assert refused.returncode == 1
    assert "has never been migrated; run `oidcgate cp migrate --database" in refused.stderr

    engine = database.create(url)
    migrate.upgrade(engine, "0001_entities")
    older = oidcgate("cp", "--database", url, "--prefix", str(tmp_path / "p"), "--admin-listen",
                     f"127.0.0.1:{free}", "--gui-listen", "off")
    assert older.returncode == 1 and "0001_entities, older than" in older.stderr
    assert migrate.current(engine) == "0001_entities"  # refused, not changed

    migrated = oidcgate("cp", "migrate", "--database", url)
    assert migrated.returncode == 0, migrated.stderr
    assert f"migrated from 0001_entities to schema {migrate.head()}" in migrated.stdout
    assert "up to date" in oidcgate("cp", "migrate", "--database", url).stdout
    engine.dispose()
    with running_cp(tmp_path / "p", "--database", url) as cp:
        assert httpx.get(f"{cp.admin}/status").json()["database"] == {"reachable": True}


def test_postgres_database_migrated_then_served(tmp_path: Path) -> None:
    with fresh_pg_schema() as url:
        assert oidcgate("cp", "--database", url, "--gui-listen", "off", "--admin-listen",
                        f"127.0.0.1:{free_port()}").returncode == 1
        assert oidcgate("cp", "migrate", "--database", url).returncode == 0
        with running_cp(tmp_path / "cp", "--database", url) as cp:
            root = httpx.get(f"{cp.admin}/").json()
            assert root["configuration"]["database"] == "postgres"
            response = httpx.post(f"{cp.admin}/services", data={"name": "pg", "url": "http://a.internal"})
            assert response.status_code == 201


def test_admin_token_from_the_environment(tmp_path: Path) -> None:
    env = {**os.environ, "OIDCGATE_ADMIN_TOKEN": "e2e-admin-token"}
    with running_cp(tmp_path / "cp", env=env) as cp:
        assert httpx.get(f"{cp.admin}/services").status_code == 401
        assert httpx.get(f"{cp.admin}/services", headers={"Kong-Admin-Token": "nope"}).status_code == 401
        ok = httpx.get(f"{cp.admin}/services", headers={"Kong-Admin-Token": "e2e-admin-token"})
        assert ok.status_code == 200 and ok.json() == {"data": [], "next": None}
        assert "e2e-admin-token" not in cp.proc.output()


def test_non_loopback_admin_without_token_is_refused(tmp_path: Path) -> None:
    result = oidcgate("cp", "--prefix", str(tmp_path / "cp"), "--admin-listen", "0.0.0.0:18001",
                      "--gui-listen", "off")
    assert result.returncode == 1
    assert "refusing to serve the admin listener on non-loopback address 0.0.0.0:18001 without an admin token" \
        in result.stderr
    assert not (tmp_path / "cp" / "oidcgate.db").exists()  # refused before touching anything


@pytest.mark.parametrize(("flag", "environment"), [(["--analytics-ttl-minutes", "0"], {}),
                                                 ([], {"OIDCGATE_ANALYTICS_TTL_MINUTES": "a day"})])
def test_a_bad_analytics_retention_is_refused(tmp_path: Path, flag: list[str], environment: dict[str, str]) -> None:
    result = oidcgate("cp", "--prefix", str(tmp_path / "cp"), *flag, env={**os.environ, **environment})
    assert result.returncode == 2
    assert "--analytics-ttl-minutes must be a positive number of minutes" in result.stderr


def test_runtime_script_command_and_endpoint(tmp_path: Path) -> None:
    prefix = tmp_path / "cp"
    prefix.mkdir()
    no_cert = oidcgate("cp", "runtime-script", "--prefix", str(prefix))
    assert no_cert.returncode == 1 and "oidcgate cluster gen-cert" in no_cert.stderr
    certs.generate(prefix / "cluster.crt", prefix / "cluster.key")
    cert_pem = (prefix / "cluster.crt").read_text().strip()
    script = oidcgate("cp", "runtime-script", "--prefix", str(prefix), "--cluster-listen", "127.0.0.1:18005")
    assert script.returncode == 0, script.stderr
    assert "--cp 127.0.0.1:18005" in script.stdout and cert_pem in script.stdout
    with running_cp(prefix, cluster=True) as cp:
        response = httpx.get(f"{cp.admin}/clustering/runtime-script")
        assert response.status_code == 200 and cert_pem in response.text
        assert f"--cp 127.0.0.1:{cp.cluster_port}" in response.text
        assert httpx.get(f"{cp.admin}/clustering/status").json()["hybrid"] is True


class FakeDataPlane:
    """The data-plane side of the cluster link, in-process: records every config it is sent."""

    def __init__(self) -> None:
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.hash = "0" * 32

    async def apply(self, document: dict[str, Any]) -> str:
        from oidcgate.config import load
        from oidcgate.plugins.registry import config_schema

        self.hash = load(document, config_schema).hash
        self.received.append((time.monotonic(), document))
        return self.hash

    async def wait_for(self, predicate: Any, timeout: float) -> float:
        """When the first config matching `predicate` arrived."""

        def arrived() -> list[float]:
            return [at for at, document in self.received if predicate(document)]

        await wait_until_async(arrived, timeout=timeout, what="a matching config")
        return arrived()[0]


async def test_change_through_one_node_reaches_a_data_plane_on_another(tmp_path: Path) -> None:
    """Two CP nodes on one PostgreSQL database: a write on node A is pushed by node B within a second."""
    cert, key = tmp_path / "cluster.crt", tmp_path / "cluster.key"
    certs.generate(cert, key)
    files = ("--cluster-cert", str(cert), "--cluster-key", str(key))
    with fresh_pg_schema() as url:
        assert oidcgate("cp", "migrate", "--database", url).returncode == 0
        with running_cp(tmp_path / "a", "--database", url, *files, cluster=True) as node_a, \
                running_cp(tmp_path / "b", "--database", url, *files, cluster=True) as node_b:
            dp = FakeDataPlane()
            client = ClusterClient(f"127.0.0.1:{node_b.cluster_port}", str(cert), str(key), dp.apply,
                                   lambda: dp.hash, node_id=str(uuid.uuid4()), hostname="fake-dp",
                                   version=__version__)
            task = asyncio.create_task(client.run())
            try:
                await dp.wait_for(lambda document: True, timeout=15)
                async with httpx.AsyncClient(base_url=node_a.admin) as admin:
                    written = time.monotonic()
                    response = await admin.post("/services", data={"name": "pushed", "url": "http://a.internal"})
                    assert response.status_code == 201
                    arrived = await dp.wait_for(
                        lambda d: [s["name"] for s in d.get("services", [])] == ["pushed"], timeout=5)
                    assert arrived - written < 1.0
                    seen: list[dict[str, Any]] = []

                    async def reported() -> bool:  # the status node B recorded is visible through node A
                        seen[:] = (await admin.get("/clustering/data-planes")).json()["data"]
                        return bool(seen) and seen[0]["config_hash"] == dp.hash

                    await wait_until_async(reported, timeout=10, interval=0.1)
                    assert seen[0]["hostname"] == "fake-dp"
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
