"""A real `oidcgate cp` against what a web page can send it: cross-site forms, DNS rebinding, text/plain.

Without a token a page the operator visits must not change the configuration nor read it (plugin
secrets, the cluster key in the runtime script); curl and local tools keep working.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from oidcgate.cluster import certs
from tests.controlplane.cp_process import ControlPlane, running_cp

pytestmark = pytest.mark.e2e

KONG_YML = """_format_version: "3.0"
services:
- name: replaced
  url: http://replaced.internal
"""
EVIL = "http://evil.example"


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    prefix = tmp_path_factory.mktemp("guard") / "cp"
    certs.generate(prefix / "cluster.crt", prefix / "cluster.key")
    with running_cp(prefix, cluster=True, gui=True) as running:
        yield running


def config_hash(cp: ControlPlane) -> str:
    response = httpx.get(f"{cp.admin}/config")
    assert response.status_code == 200, response.text
    return response.headers["X-Config-Hash"]


def test_cross_site_writes_are_refused_and_change_nothing(cp: ControlPlane) -> None:
    before = config_hash(cp)
    form = httpx.post(f"{cp.admin}/services", data={"name": "planted", "url": "http://evil.example"},
                      headers={"Origin": EVIL})
    assert form.status_code == 403
    assert form.json() == {"message": f"cross-site request refused: Origin '{EVIL}' is not local"}
    replace = httpx.post(f"{cp.admin}/config", files={"config": ("kong.yml", KONG_YML)},
                         headers={"Origin": EVIL})
    assert replace.status_code == 403
    sandboxed = httpx.post(f"{cp.admin}/config", files={"config": ("kong.yml", KONG_YML)},
                           headers={"Origin": "null"})
    assert sandboxed.status_code == 403
    fetch_metadata = httpx.post(f"{cp.admin}/services", data={"name": "planted", "url": "http://e.example"},
                                headers={"Sec-Fetch-Site": "cross-site"})
    assert fetch_metadata.status_code == 403
    assert fetch_metadata.json() == {"message": "cross-site request refused (Sec-Fetch-Site: cross-site)"}
    assert httpx.get(f"{cp.admin}/services/planted").status_code == 404
    assert config_hash(cp) == before
    assert "cross-site request refused" in cp.proc.output()  # logged for the operator


def test_dns_rebinding_cannot_read_config_or_the_cluster_key(cp: ControlPlane) -> None:
    rebound = {"Host": f"evil.example:{cp.admin_port}"}
    for path in ("/config", "/clustering/runtime-script", "/"):
        response = httpx.get(cp.admin + path, headers=rebound)
        assert response.status_code == 421, path
        assert response.json()["message"].startswith(f"Host 'evil.example:{cp.admin_port}' is not served here")
        assert "PRIVATE KEY" not in response.text
    assert httpx.get(f"{cp.admin}/clustering/runtime-script").status_code == 200  # the same, asked locally


def test_text_plain_config_is_refused(cp: ControlPlane) -> None:
    before = config_hash(cp)
    response = httpx.post(f"{cp.admin}/config", content=KONG_YML, headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["message"].startswith("Content-Type 'text/plain' is not accepted for /config")
    assert config_hash(cp) == before


def test_curl_and_local_pages_keep_working(cp: ControlPlane) -> None:
    curl = httpx.post(f"{cp.admin}/services", data={"name": "by-curl", "url": "http://a.internal"})
    assert curl.status_code == 201, curl.text
    local = f"http://localhost:{cp.admin_port}"
    page = httpx.post(f"{local}/routes", data={"name": "from-local-page", "paths[]": "/x", "service.name": "by-curl"},
                      headers={"Origin": local, "Sec-Fetch-Site": "same-origin"})
    assert page.status_code == 201, page.text
    yaml_body = httpx.post(f"{cp.admin}/config", content=KONG_YML, headers={"Content-Type": "application/yaml"})
    assert yaml_body.status_code == 201, yaml_body.text
    uploaded = httpx.post(f"{cp.admin}/config", files={"config": ("kong.yml", KONG_YML.replace("replaced", "again"))},
                          headers={"Origin": f"http://127.0.0.1:{cp.admin_port}"})
    assert uploaded.status_code == 201, uploaded.text
    assert httpx.get(f"{cp.admin}/services/again").status_code == 200


def test_gui_refuses_rebinding_and_cross_site_forms(cp: ControlPlane) -> None:
    gui = f"http://127.0.0.1:{cp.gui_port}"
    with httpx.Client(base_url=gui) as browser:
        assert browser.get("/").status_code == 200
        assert browser.get("/", headers={"Host": f"evil.example:{cp.gui_port}"}).status_code == 421
        refused = browser.post("/services/new", data={"name": "planted", "host": "evil.example"},
                               headers={"Origin": EVIL})
        assert refused.status_code == 403 and "cross-site request refused" in refused.text
    assert httpx.get(f"{cp.admin}/services/planted").status_code == 404


def test_with_a_token_any_host_is_served_but_text_plain_is_still_refused(tmp_path: Path) -> None:
    env = {**os.environ, "OIDCGATE_ADMIN_TOKEN": "guard-admin-token"}
    with running_cp(tmp_path / "cp", env=env) as cp:
        token = {"Kong-Admin-Token": "guard-admin-token"}
        behind_a_balancer = httpx.get(f"{cp.admin}/services", headers={**token, "Host": "admin.example"})
        assert behind_a_balancer.status_code == 200
        assert httpx.get(f"{cp.admin}/services", headers={"Origin": EVIL}).status_code == 401
        text = httpx.post(f"{cp.admin}/config", content=KONG_YML, headers={**token, "Content-Type": "text/plain"})
        assert text.status_code == 415
