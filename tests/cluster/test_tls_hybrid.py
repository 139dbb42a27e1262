"""TLS in hybrid mode: the Admin API over HTTPS, certificates pushed to a data plane, and a certificate
rotated through the control plane while clients keep sending requests, none of them failing."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from oidcgate import __version__
from oidcgate.cluster.client import ClusterClient
from oidcgate.config import load
from oidcgate.plugins.registry import config_schema
from tests.cluster.topology import ClusterFiles, cluster_files, control_plane, data_plane, echo
from tests.support import tls_client
from tests.support.pki import CA
from tests.support.polling import wait_until
from tests.support.processes import free_port

pytestmark = pytest.mark.timeout(180)


class Traffic(threading.Thread):
    """Requests over one keep-alive connection and over fresh ones, until stopped; counts failures."""

    def __init__(self, port: int, ctx: ssl.SSLContext) -> None:
        super().__init__(daemon=True)
        self.port, self.ctx = port, ctx
        self.stop = threading.Event()
        self.ok = 0
        self.failures: list[str] = []

    def run(self) -> None:
        with tls_client.Session(self.port, "a.test", self.ctx) as kept:
            deadline = time.monotonic() + 60
            while not self.stop.is_set() and time.monotonic() < deadline:
                try:
                    statuses = (kept.get("/anything"), tls_client.request(self.port, "a.test", "/anything",
                                                                          ctx=self.ctx).status)
                except (OSError, ssl.SSLError) as exc:
                    self.failures.append(repr(exc))
                    continue
                if statuses == (200, 200):
                    self.ok += 2
                else:
                    self.failures.append(str(statuses))


def test_certificate_rotation_through_the_control_plane_drops_no_request(tmp_path: Path) -> None:
    ca = CA()
    admin_cert = ca.issue("127.0.0.1").write(tmp_path, "admin")
    files = cluster_files(tmp_path)
    with contextlib.ExitStack() as stack:
        upstream, upstream_url = echo(tmp_path)
        stack.callback(upstream.stop)
        cp = control_plane(tmp_path, files, admin_tls=(str(admin_cert[0]), str(admin_cert[1])))
        stack.callback(cp.stop)
        tls_port = free_port()
        dp = data_plane(tmp_path, files, cp.cluster, "dp", tls_port=tls_port)
        stack.callback(dp.stop)
        admin = stack.enter_context(httpx.Client(base_url=cp.admin, verify=tls_client.context(ca.cert), timeout=10))

        first = ca.issue("a.test")
        assert admin.post("/services", json={"name": "echo", "url": upstream_url}).status_code == 201
        assert admin.post("/services/echo/routes", json={"name": "all", "paths": ["/"]}).status_code == 201
        created = admin.post("/certificates", json={"cert": first.cert, "key": first.key})
        assert created.status_code == 201, created.text
        certificate_id = created.json()["id"]
        assert admin.post(f"/certificates/{certificate_id}/snis", json={"name": "a.test"}).status_code == 201
        ctx = tls_client.context(ca.cert)

        def serial() -> int | None:
            try:
                return tls_client.request(tls_port, "a.test", "/anything", ctx=ctx).peer_serial
            except (OSError, ssl.SSLError):
                return None

        wait_until(lambda: serial() == first.serial, 30, 0.1)

        traffic = Traffic(tls_port, ctx)
        traffic.start()
        wait_until(lambda: traffic.ok >= 10, 30, 0.05)
        second = ca.issue("a.test", kind="rsa")
        patched = admin.patch(f"/certificates/{certificate_id}", json={"cert": second.cert, "key": second.key})
        assert patched.status_code == 200, patched.text
        wait_until(lambda: serial() == second.serial, 30, 0.1)
        counted = traffic.ok
        wait_until(lambda: traffic.ok >= counted + 10, 30, 0.05)  # still serving after the rotation
        traffic.stop.set()
        traffic.join(10)
        assert traffic.failures == []
        assert traffic.ok >= 20


def test_admin_api_over_tls_keeps_the_guard_and_refuses_plain_http(tmp_path: Path) -> None:
    """TLS changes the transport only: without a token, a rebound Host still gets 421 and a cross-site
    Origin 403, while localhost and the listener's loopback address are served."""
    ca = CA()
    admin_cert = ca.issue("127.0.0.1", "localhost").write(tmp_path, "admin")
    cp = control_plane(tmp_path, cluster_files(tmp_path), admin_tls=(str(admin_cert[0]), str(admin_cert[1])))
    try:
        with httpx.Client(base_url=cp.admin, verify=tls_client.context(ca.cert), timeout=10) as admin:
            assert admin.get("/services").status_code == 200
            port = cp.admin.rsplit(":", 1)[1]
            assert admin.get("/services", headers={"Host": f"localhost:{port}"}).status_code == 200
            rebound = admin.get("/services", headers={"Host": f"rebound.example:{port}"})
            assert (rebound.status_code, rebound.json()["message"]) == (421, (
                f"Host 'rebound.example:{port}' is not served here: without an admin token only localhost and "
                "this listener's IP addresses are (protection against DNS rebinding)"))
            cross_site = admin.post("/services", json={"name": "x", "url": "http://127.0.0.1:1"},
                                    headers={"Origin": "https://evil.example"})
            assert cross_site.status_code == 403
            assert admin.get("/services/x").status_code == 404
        with pytest.raises(httpx.HTTPError):
            httpx.get(cp.admin.replace("https://", "http://") + "/services", timeout=5)
    finally:
        cp.stop()


def test_a_data_plane_older_than_tls_gets_a_config_it_can_load_or_the_reason(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A 0.1 data plane (no TLS listener, no upstream verification) gets the configuration without its
    certificates; once a service asks for tls_verify it gets none, and the control plane says why."""
    ca = CA()
    files = cluster_files(tmp_path)
    cp = control_plane(tmp_path, files)
    try:
        with httpx.Client(base_url=cp.admin, timeout=10) as admin:
            issued = ca.issue("a.test")
            assert admin.post("/certificates", json={"cert": issued.cert, "key": issued.key,
                                                     "snis": ["a.test"]}).status_code == 201
            assert admin.post("/services", json={"name": "billing", "url": "https://billing.test"}).status_code == 201
            received = asyncio.run(_first_config(cp.cluster, files, "0.1.0"))
            assert "certificates" not in received and "snis" not in received
            assert load(received, config_schema).services[0].name == "billing"  # loadable, and what a 0.1 loader accepts
            assert set(received) == {"_format_version", "services"}
            current = asyncio.run(_first_config(cp.cluster, files, __version__))
            assert [sni["name"] for sni in current["snis"]] == ["a.test"]

            assert admin.patch("/services/billing", json={"tls_verify": True}).status_code == 200
            wait_until(lambda: asyncio.run(_first_config(cp.cluster, files, __version__))["services"][0]
                       .get("tls_verify") is True, 20, 0.1)  # the control plane pushes the change
            with pytest.raises(TimeoutError):
                asyncio.run(_first_config(cp.cluster, files, "0.1.0", timeout=2))
            rows = {row["hostname"]: row for row in admin.get("/clustering/data-planes").json()["data"]}
            assert rows["dp-0.1.0"]["sync_status"] == "kong_version_incompatible"
    finally:
        cp.stop()
    reason = "services[0].tls_verify: data plane version 0.1.0 cannot enforce it (added in 0.2); upgrade it to 0.2 or newer"
    assert f"no configuration sent: {reason}" in caplog.text  # what the data plane was told
    assert reason in cp.proc.output()


async def _first_config(cluster: str, files: ClusterFiles, version: str, timeout: float = 10) -> dict[str, Any]:
    """Connect as a data plane of `version` and return the first configuration pushed to it."""
    received: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    async def apply(doc: dict[str, Any]) -> str:
        if not received.done():
            received.set_result(doc)
        return ""

    client = ClusterClient(cluster, files.cert, files.key, apply, lambda: "",
                           node_id=str(uuid.uuid5(uuid.NAMESPACE_DNS, version)), hostname=f"dp-{version}",
                           version=version)
    task = asyncio.create_task(client.run())
    try:
        return await asyncio.wait_for(received, timeout)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
