"""`GET /config` exports kong.yml (or JSON) with the data plane's hash; `POST /config` replaces atomically."""

from __future__ import annotations

import httpx
import yaml

from oidcgate.config import load
from oidcgate.controlplane.store import Store
from oidcgate.plugins.registry import config_schema
from tests.controlplane.conftest import created

KONG_YML = """
_format_version: "3.0"
services:
- name: httpbin
  url: http://127.0.0.1:9090
  routes:
  - name: oidcroute
    paths: [/oidcroute]
    plugins:
    - name: correlation-id
      config: {header_name: X-Trace}
consumers:
- username: alice
upstreams:
- name: echo.upstream
  targets:
  - target: 127.0.0.1:9090
"""


async def test_export_is_what_the_data_plane_loads(admin: httpx.AsyncClient, store: Store) -> None:
    await created(admin, "/services", name="svc", url="http://a.internal:81/base")
    await created(admin, "/services/svc/routes", paths=["/x"])
    await created(admin, "/plugins", name="correlation-id")
    text_response = await admin.get("/config")
    assert text_response.headers["content-type"].startswith("application/yaml")
    document = yaml.safe_load(text_response.text)
    json_document = (await admin.get("/config", headers={"Accept": "application/json"})).json()
    assert document == json_document
    snapshot = load(document, config_schema)
    assert snapshot.hash == text_response.headers["x-config-hash"]
    assert (await store.export_async()) == (json_document, snapshot.hash)
    assert snapshot.counts == {"services": 1, "routes": 1, "consumers": 0, "plugins": 1, "upstreams": 0,
                               "targets": 0, "consumer_groups": 0, "acls": 0, "consumer_group_consumers": 0,
                               "certificates": 0, "ca_certificates": 0, "snis": 0}


async def test_post_config_replaces_everything(admin: httpx.AsyncClient) -> None:
    await created(admin, "/services", name="old", host="old.internal")
    response = await admin.post("/config", content=KONG_YML, headers={"Content-Type": "application/yaml"})
    assert response.status_code == 201, response.text
    assert response.json()["entities"]["services"] == 1
    assert [s["name"] for s in (await admin.get("/services")).json()["data"]] == ["httpbin"]
    route = (await admin.get("/routes/oidcroute")).json()
    assert route["service"]["id"] == (await admin.get("/services/httpbin")).json()["id"]
    plugin = (await admin.get("/routes/oidcroute/plugins")).json()["data"][0]
    assert plugin["config"]["header_name"] == "X-Trace" and plugin["created_at"] > 0
    assert (await admin.get("/upstreams/echo.upstream/targets")).json()["data"][0]["target"] == "127.0.0.1:9090"

    as_form = await admin.post("/config", files={"config": ("kong.yml", KONG_YML.replace("alice", "bob"))})
    assert as_form.status_code == 201, as_form.text
    assert (await admin.get("/consumers/bob")).status_code == 200
    as_json = await admin.post("/config", json={"config": KONG_YML.replace("alice", "carol")})
    assert as_json.status_code == 201
    assert [c["username"] for c in (await admin.get("/consumers")).json()["data"]] == ["carol"]


async def test_invalid_config_changes_nothing(admin: httpx.AsyncClient, store: Store) -> None:
    await created(admin, "/services", name="kept", host="kept.internal")
    before = store.version()
    broken = KONG_YML.replace("paths: [/oidcroute]", "paths: [oidcroute]").replace("name: alice", "nme: alice")
    response = await admin.post("/config", content=broken, headers={"Content-Type": "application/yaml"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 14 and body["name"] == "invalid declarative configuration"
    assert {e["path"] for e in body["flattened_errors"]} == {
        "services[0].routes[0].paths[0]", "consumers[0].usernme"}
    assert [s["name"] for s in (await admin.get("/services")).json()["data"]] == ["kept"]
    assert store.version() == before

    garbage = await admin.post("/config", content=b"services: [", headers={"Content-Type": "text/yaml"})
    assert garbage.status_code == 400 and "invalid YAML" in garbage.json()["message"]
