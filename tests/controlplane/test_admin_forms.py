"""Kong's form-encoded bodies: arrays, nested keys and schema typing, over the Admin API."""

from __future__ import annotations

import httpx

from tests.controlplane.conftest import created

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def post_form(admin: httpx.AsyncClient, path: str, body: str, method: str = "POST") -> httpx.Response:
    return await admin.request(method, path, content=body.encode(), headers=FORM)


async def test_array_forms(admin: httpx.AsyncClient) -> None:
    await created(admin, "/services", name="svc", host="a.internal")
    bracket = await post_form(admin, "/services/svc/routes", "paths[]=/a&paths[]=/b&methods[]=GET")
    repeated = await post_form(admin, "/services/svc/routes", "paths=/c&paths=/d")
    single = await post_form(admin, "/services/svc/routes", "paths=/e&strip_path=false&regex_priority=3")
    indexed = await post_form(admin, "/services/svc/routes", "paths[2]=/g&paths[1]=/f")
    assert [r.status_code for r in (bracket, repeated, single, indexed)] == [201] * 4
    assert bracket.json()["paths"] == ["/a", "/b"] and bracket.json()["methods"] == ["GET"]
    assert repeated.json()["paths"] == ["/c", "/d"]
    assert single.json()["paths"] == ["/e"]
    assert single.json()["strip_path"] is False and single.json()["regex_priority"] == 3
    assert indexed.json()["paths"] == ["/f", "/g"]


async def test_foreign_key_and_map_forms(admin: httpx.AsyncClient) -> None:
    service = await created(admin, "/services", name="svc", host="a.internal")
    response = await post_form(admin, "/routes", f"service.id={service['id']}&headers.x-env=prod&hosts=example.com")
    assert response.status_code == 201, response.text
    assert response.json()["service"] == {"id": service["id"]}
    assert response.json()["headers"] == {"x-env": ["prod"]}


async def test_plugin_config_forms_are_typed_by_the_plugin_schema(admin: httpx.AsyncClient) -> None:
    response = await post_form(admin, "/plugins", "name=openid-connect"
                               "&config.issuer=http://127.0.0.1:9000/oauth2/default"
                               "&config.scopes=openid&config.scopes[]=profile"
                               "&config.client_id=demo&config.client_secret=s3cret"
                               "&config.auth_methods=client_credentials")
    assert response.status_code == 201, response.text
    config = response.json()["config"]
    assert config["scopes"] == ["openid", "profile"]
    assert config["client_id"] == ["demo"] and config["auth_methods"] == ["client_credentials"]

    plugin_id = response.json()["id"]
    patched = await post_form(admin, f"/plugins/{plugin_id}", "config.scopes=email", method="PATCH")
    assert patched.status_code == 200, patched.text
    assert patched.json()["config"]["scopes"] == ["email"]
    assert patched.json()["config"]["client_id"] == ["demo"]


async def test_empty_value_unsets_a_field(admin: httpx.AsyncClient) -> None:
    await created(admin, "/services", name="svc", host="a.internal", path="/base")
    response = await post_form(admin, "/services/svc", "path=", method="PATCH")
    assert response.status_code == 200 and response.json()["path"] is None


async def test_multipart_form(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/services", files={"name": (None, "multi"), "url": (None, "http://m.internal:81")})
    assert response.status_code == 201, response.text
    assert (response.json()["name"], response.json()["port"]) == ("multi", 81)
