"""`GET /`, `/status`, schemas and validation endpoints, the OpenAPI document, the runtime manager."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from oidcgate import __version__
from oidcgate.controlplane.admin.app import create_app
from oidcgate.controlplane.store import Store
from tests.controlplane.conftest import created, make_client


@dataclass
class Report:
    id: str
    ip: str
    hostname: str
    version: str
    config_hash: str
    last_seen: float
    sync_status: str = "normal"


async def test_root(admin: httpx.AsyncClient, backend: str) -> None:
    body = (await admin.get("/")).json()
    assert body["version"] == __version__ and body["node_id"] and body["hostname"]
    available = body["plugins"]["available_on_server"]
    assert {"openid-connect", "correlation-id"} <= set(available)
    assert available["openid-connect"]["priority"] > 0
    assert body["configuration"]["database"] == backend and body["configuration"]["role"] == "control_plane"
    await created(admin, "/plugins", name="correlation-id")
    assert (await admin.get("/")).json()["plugins"]["enabled_in_cluster"] == ["correlation-id"]


async def test_status(admin: httpx.AsyncClient) -> None:
    body = (await admin.get("/status")).json()
    assert body["database"] == {"reachable": True}
    assert body["memory"]["rss_bytes"] > 0 and len(body["configuration_hash"]) == 32


async def test_plugin_schema_has_what_a_form_needs(admin: httpx.AsyncClient) -> None:
    body = (await admin.get("/schemas/plugins/openid-connect")).json()
    fields = {name: spec for entry in body["fields"] for name, spec in entry.items()}
    assert fields["service"] == {"type": "foreign", "reference": "services", "default": None,
                                 "description": "The id or the name of another entity."}
    config = {name: spec for entry in fields["config"]["fields"] for name, spec in entry.items()}
    assert config["issuer"]["type"] == "string" and config["issuer"]["required"] is True
    assert config["issuer"]["description"]
    assert config["scopes"]["type"] == "array" and config["scopes"]["elements"]["type"] == "string"
    assert "client_credentials" in config["auth_methods"]["elements"]["one_of"]
    assert (await admin.get("/schemas/plugins/nope")).json() == {"message": "No plugin named 'nope'"}
    routes = {n: s for e in (await admin.get("/schemas/routes")).json()["fields"] for n, s in e.items()}
    assert routes["https_redirect_status_code"]["one_of"] == [426, 301, 302, 307, 308]
    assert routes["headers"]["type"] == "map" and routes["headers"]["values"]["type"] == "array"


async def test_validate_endpoints_store_nothing(admin: httpx.AsyncClient) -> None:
    ok = await admin.post("/schemas/plugins/validate", json={"name": "correlation-id"})
    assert ok.json() == {"message": "schema validation successful"}
    bad = await admin.post("/schemas/plugins/validate", json={"name": "openid-connect", "config": {}})
    assert bad.status_code == 400 and bad.json()["fields"] == {"config": {"issuer": "required field missing"}}
    assert (await admin.post("/schemas/services/validate", json={"host": "a.internal"})).status_code == 200
    assert (await admin.post("/schemas/services/validate", json={"port": 1})).status_code == 400
    assert (await admin.post("/schemas/nothing/validate", json={})).status_code == 404
    assert (await admin.get("/plugins")).json()["data"] == []


async def test_openapi_document(admin: httpx.AsyncClient) -> None:
    document = (await admin.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    assert {"/services", "/services/{key}", "/services/{parent}/routes", "/upstreams/{parent}/targets/{key}",
            "/config", "/clustering/data-planes", "/analytics/summary", "/analytics/timeseries"} <= set(document["paths"])
    window = document["paths"]["/analytics/summary"]["get"]["parameters"][0]
    assert (window["name"], window["schema"]["enum"]) == ("window", ["15m", "1h", "1d"])
    service = document["components"]["schemas"]["Service"]
    assert "url" in service["properties"] and "host" in service["required"]
    post = document["paths"]["/services"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Service"}


async def test_data_planes_and_cluster_status(admin: httpx.AsyncClient, store: Store) -> None:
    _, config_hash = await store.export_async()
    now = time.time()
    await store.record_data_plane_async(Report("dp-1", "127.0.0.1", "host-1", __version__, config_hash, now))
    await store.record_data_plane_async(Report("dp-2", "127.0.0.2", "host-2", __version__, "0" * 32, now))
    await store.record_data_plane_async(Report("dp-2", "127.0.0.2", "host-2b", __version__, config_hash, now + 1))
    body = (await admin.get("/clustering/data-planes")).json()
    assert [(d["id"], d["hostname"]) for d in body["data"]] == [("dp-1", "host-1"), ("dp-2", "host-2b")]
    row = body["data"][0]
    assert {"id", "ip", "hostname", "version", "last_seen", "config_hash", "sync_status"} <= set(row)
    assert row["sync_status"] == "normal" and row["ttl"] > 0
    status = (await admin.get("/clustering/status")).json()
    assert status["data_planes"] == {"total": 2, "in_sync": 2} and status["config_hash"] == config_hash
    script = await admin.get("/clustering/runtime-script")
    assert script.status_code == 404 and "hybrid mode is off" in script.json()["message"]


async def test_runtime_script_endpoint(store: Store) -> None:
    app = create_app(store, runtime_script=lambda: "#!/usr/bin/env bash\nexec oidcgate dp\n")
    async with make_client(app) as client:
        response = await client.get("/clustering/runtime-script")
    assert response.status_code == 200 and response.text.startswith("#!/usr/bin/env bash")
    assert response.headers["cache-control"] == "no-store"


async def test_admin_token_is_required_on_every_path(store: Store) -> None:
    app = create_app(store, admin_token="s3cret-token")
    async with make_client(app) as anonymous, make_client(app, **{"Kong-Admin-Token": "s3cret-token"}) as ok, \
            make_client(app, **{"Kong-Admin-Token": "s3cret-tokeN"}) as wrong:
        for path in ("/", "/services", "/openapi.json", "/nothing"):
            response = await anonymous.get(path)
            assert response.status_code == 401
            assert response.json() == {"message": "Invalid credentials. Token or User credentials required"}
            assert (await wrong.get(path)).status_code == 401
        assert (await anonymous.post("/services", json={"host": "a.internal"})).status_code == 401
        assert (await ok.get("/services")).status_code == 200
        assert (await ok.post("/services", json={"host": "a.internal"})).status_code == 201


async def test_unreachable_database_is_a_503_not_a_500() -> None:
    from oidcgate.controlplane import database
    from tests.support.processes import free_port

    store = Store(database.create(f"postgresql://postgres@127.0.0.1:{free_port()}/test?connect_timeout=2"))
    async with make_client(create_app(store)) as client:
        listing = await client.get("/services")
        assert listing.status_code == 503 and listing.json()["name"] == "database error"
        assert (await client.post("/services", json={"host": "a.internal"})).status_code == 503
        status = await client.get("/status")
        assert status.status_code == 503 and status.json()["database"] == {"reachable": False}
    store.engine.dispose()
