"""The DB-less admin API of a real `oidcgate dp` (`--admin-listen`) against what a web page can send it."""

from __future__ import annotations

import json

import httpx

from tests.proxy.conftest import StartDP
from tests.proxy.helpers import DataPlane, service

EVIL = "http://evil.example"


def admin_url(dp: DataPlane, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{dp.admin_port}"


def test_cross_site_config_post_is_refused_and_changes_nothing(dataplane: StartDP, echo_port: int) -> None:
    dp = dataplane(service(echo_port), admin=True)
    before = dp.status()["configuration_hash"]
    hostile = json.dumps(service(echo_port, planted={"paths": ["/planted"]}))
    form = httpx.post(admin_url(dp) + "/config", files={"config": ("kong.yml", hostile)}, headers={"Origin": EVIL})
    assert form.status_code == 403
    assert form.json() == {"message": f"cross-site request refused: Origin '{EVIL}' is not local"}
    text = httpx.post(admin_url(dp) + "/config", content=hostile, headers={"Content-Type": "text/plain"})
    assert text.status_code == 415
    assert dp.status()["configuration_hash"] == before


def test_dns_rebinding_cannot_read_the_config(dataplane: StartDP, echo_port: int) -> None:
    dp = dataplane(service(echo_port), admin=True)
    rebound = httpx.get(admin_url(dp) + "/config", headers={"Host": f"evil.example:{dp.admin_port}"})
    assert rebound.status_code == 421
    assert "services" not in rebound.text
    assert httpx.get(admin_url(dp) + "/config", headers={"Host": f"localhost:{dp.admin_port}"}).status_code == 200


def test_curl_forms_and_local_origins_keep_working(dataplane: StartDP, echo_port: int) -> None:
    dp = dataplane(None, admin=True)
    doc = json.dumps(service(echo_port))
    curl = httpx.post(admin_url(dp) + "/config", files={"config": ("kong.yml", doc)})
    assert curl.status_code == 201, curl.text
    local = admin_url(dp, "localhost")
    changed = json.dumps(service(echo_port, other={"paths": ["/other"]}))
    page = httpx.post(local + "/config", data={"config": changed}, headers={"Origin": local})
    assert page.status_code == 201, page.text
    assert dp.status()["configuration_hash"] == page.json()["configuration_hash"]
