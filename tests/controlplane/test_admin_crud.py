"""Admin API CRUD on both databases: Kong's paths, methods, status codes and entity shapes."""

from __future__ import annotations

import httpx

from tests.controlplane.conftest import created

ISSUER = "http://127.0.0.1:9000/oauth2/default"


async def test_service_lifecycle(admin: httpx.AsyncClient) -> None:
    service = await created(admin, "/services", name="example-service", url="http://httpbin.konghq.com/anything")
    assert service["host"] == "httpbin.konghq.com" and service["path"] == "/anything"
    assert service["port"] == 80 and service["protocol"] == "http" and service["retries"] == 5
    assert isinstance(service["created_at"], int) and service["updated_at"] >= service["created_at"]
    assert service["tls_verify"] is None  # Kong shows every field, unset ones as null

    by_name = (await admin.get("/services/example-service")).json()
    by_id = (await admin.get(f"/services/{service['id']}")).json()
    by_upper_id = (await admin.get(f"/services/{service['id'].upper()}")).json()
    assert by_name == by_id == by_upper_id == service

    patched = await admin.patch("/services/example-service", json={"retries": 2, "url": "https://other.test:8443"})
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["retries"], body["protocol"], body["host"], body["port"], body["path"]) == (
        2, "https", "other.test", 8443, None)
    assert body["created_at"] == service["created_at"] and body["id"] == service["id"]

    assert (await admin.delete("/services/example-service")).status_code == 204
    assert (await admin.get(f"/services/{service['id']}")).status_code == 404
    assert (await admin.delete("/services/example-service")).status_code == 204  # idempotent, like Kong


async def test_put_upserts_by_name_and_by_id(admin: httpx.AsyncClient) -> None:
    first = await admin.put("/services/billing", json={"host": "billing.internal"})
    assert first.status_code == 200, first.text
    assert first.json()["name"] == "billing"
    replaced = await admin.put("/services/billing", json={"host": "billing2.internal", "port": 8080})
    assert replaced.json()["id"] == first.json()["id"]
    assert (replaced.json()["host"], replaced.json()["port"], replaced.json()["retries"]) == (
        "billing2.internal", 8080, 5)
    entity_id = "6f3a1c5e-0d1b-4e0a-9a53-3d1f0c2b9e71"
    by_id = await admin.put(f"/services/{entity_id}", json={"name": "by-id", "host": "x.internal"})
    assert by_id.status_code == 200 and by_id.json()["id"] == entity_id
    assert (await admin.get("/services/by-id")).json()["id"] == entity_id


async def test_routes_nested_under_service(admin: httpx.AsyncClient) -> None:
    service = await created(admin, "/services", name="svc", host="upstream.internal")
    route = await created(admin, "/services/svc/routes", name="r1", paths=["/mock"])
    assert route["service"] == {"id": service["id"]}
    assert route["protocols"] == ["http", "https"] and route["strip_path"] is True
    await created(admin, "/routes", name="other", hosts=["example.com"])

    nested = (await admin.get("/services/svc/routes")).json()
    assert [r["name"] for r in nested["data"]] == ["r1"] and nested["next"] is None
    assert len((await admin.get("/routes")).json()["data"]) == 2
    assert (await admin.get("/services/svc/routes/r1")).status_code == 200
    assert (await admin.get("/services/svc/routes/other")).status_code == 404  # not this service's
    assert (await admin.get("/routes/r1/service")).json()["id"] == service["id"]
    assert (await admin.get("/routes/other/service")).status_code == 404
    assert (await admin.get("/services/nope/routes")).status_code == 404

    moved = await admin.patch("/routes/other", json={"service": {"name": "svc"}})
    assert moved.json()["service"] == {"id": service["id"]}


async def test_consumers_by_username_and_custom_id_filter(admin: httpx.AsyncClient) -> None:
    alice = await created(admin, "/consumers", username="alice", custom_id="A-1")
    await created(admin, "/consumers", custom_id="B-2")
    assert (await admin.get("/consumers/alice")).json()["id"] == alice["id"]
    found = (await admin.get("/consumers", params={"custom_id": "A-1"})).json()["data"]
    assert [c["username"] for c in found] == ["alice"]
    missing = await admin.post("/consumers", json={"tags": ["x"]})
    assert missing.status_code == 400
    assert "custom_id" in missing.json()["message"]


async def test_upstreams_and_targets(admin: httpx.AsyncClient) -> None:
    upstream = await created(admin, "/upstreams", name="echo.upstream")
    assert upstream["algorithm"] == "round-robin" and upstream["healthchecks"]["active"]["type"] == "http"
    target = await created(admin, "/upstreams/echo.upstream/targets", target="127.0.0.1:9090", weight=50)
    assert target["upstream"] == {"id": upstream["id"]} and target["weight"] == 50
    defaulted = await created(admin, "/upstreams/echo.upstream/targets", target="10.0.0.2")
    assert defaulted["target"] == "10.0.0.2:8000"  # Kong's default target port
    listed = (await admin.get("/upstreams/echo.upstream/targets")).json()["data"]
    assert {t["target"] for t in listed} == {"127.0.0.1:9090", "10.0.0.2:8000"}
    assert (await admin.get("/upstreams/echo.upstream/targets/127.0.0.1:9090")).json()["id"] == target["id"]

    patched = await admin.patch("/upstreams/echo.upstream", json={"healthchecks": {"active": {"timeout": 3}}})
    assert patched.json()["healthchecks"]["active"]["timeout"] == 3
    assert patched.json()["healthchecks"]["active"]["http_path"] == "/"  # records merge on PATCH

    assert (await admin.delete("/upstreams/echo.upstream")).status_code == 204  # targets cascade
    assert (await admin.get(f"/upstreams/{upstream['id']}/targets")).status_code == 404


async def test_plugins_on_every_scope(admin: httpx.AsyncClient) -> None:
    await created(admin, "/services", name="svc", host="upstream.internal")
    route = await created(admin, "/services/svc/routes", name="r", paths=["/r"])
    await created(admin, "/consumers", username="bob")
    global_plugin = await created(admin, "/plugins", name="correlation-id")
    on_service = await created(admin, "/services/svc/plugins", name="correlation-id",
                               config={"header_name": "X-Svc-Id"})
    on_route = await created(admin, "/routes/r/plugins", name="correlation-id")
    on_consumer = await created(admin, "/consumers/bob/plugins", name="correlation-id")
    assert global_plugin["service"] is None and global_plugin["config"]["generator"] == "uuid#counter"
    assert on_route["route"] == {"id": route["id"]}
    assert on_consumer["consumer"]["id"]

    assert [p["id"] for p in (await admin.get("/services/svc/plugins")).json()["data"]] == [on_service["id"]]
    assert len((await admin.get("/plugins")).json()["data"]) == 4

    patched = await admin.patch(f"/plugins/{on_service['id']}", json={"config": {"echo_downstream": True}})
    assert patched.json()["config"] == {"header_name": "X-Svc-Id", "generator": "uuid#counter",
                                        "echo_downstream": True}


async def test_deletes_cascade_to_plugins_like_kong(admin: httpx.AsyncClient) -> None:
    await created(admin, "/services", name="svc", host="upstream.internal")
    await created(admin, "/services/svc/routes", name="r", paths=["/r"])
    await created(admin, "/consumers", username="bob")
    await created(admin, "/routes/r/plugins", name="correlation-id")
    await created(admin, "/consumers/bob/plugins", name="correlation-id")
    service_plugin = await created(admin, "/services/svc/plugins", name="correlation-id")

    assert (await admin.delete("/routes/r")).status_code == 204
    assert (await admin.delete("/consumers/bob")).status_code == 204
    remaining = (await admin.get("/plugins")).json()["data"]
    assert [p["id"] for p in remaining] == [service_plugin["id"]]
    assert (await admin.delete("/services/svc")).status_code == 204
    assert (await admin.get("/plugins")).json()["data"] == []


async def test_delete_of_service_with_routes_is_refused(admin: httpx.AsyncClient) -> None:
    await created(admin, "/services", name="svc", host="upstream.internal")
    await created(admin, "/services/svc/routes", paths=["/x"])
    response = await admin.delete("/services/svc")
    assert response.status_code == 400
    assert response.json() == {"code": 4, "name": "foreign key violation",
                               "message": "an existing 'routes' entity references this 'services' entity",
                               "fields": {"@referenced_by": "routes"}}
    assert (await admin.get("/services/svc")).status_code == 200


async def test_openid_connect_plugin_with_vault_reference_is_stored_unresolved(admin: httpx.AsyncClient) -> None:
    await created(admin, "/services", name="httpbin", url="http://127.0.0.1:9090")
    await created(admin, "/services/httpbin/routes", name="oidcroute", paths=["/oidcroute"])
    plugin = await created(admin, "/routes/oidcroute/plugins", name="openid-connect", config={
        "issuer": ISSUER, "client_id": ["demo"], "client_secret": ["{vault://env/demo-client-secret}"],
        "auth_methods": ["client_credentials"]})
    assert plugin["config"]["client_secret"] == ["{vault://env/demo-client-secret}"]
    exported = (await admin.get("/config", headers={"Accept": "application/json"})).json()
    assert exported["plugins"][0]["config"]["client_secret"] == ["{vault://env/demo-client-secret}"]

    bad = await admin.post("/plugins", json={"name": "openid-connect", "config": {
        "issuer": ISSUER, "client_secret": ["{vault://aws/secret}"]}})
    assert bad.status_code == 400
    assert bad.json()["fields"] == {"config": {"client_secret": {  # every error at once
        "0": "unknown vault 'aws' in '{vault://aws/secret}': only 'env' is supported",
        "@entity": "has 1 entries but client_id has 0"}}}
