"""Kong's error shapes, and bad input answered with a precise 4xx (never a 500)."""

from __future__ import annotations

import httpx
import pytest

from tests.controlplane.conftest import created


async def test_schema_violation_lists_every_error(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/services", json={"name": "bad name", "port": 70000})
    assert response.status_code == 400
    assert response.json() == {
        "code": 2, "name": "schema violation",
        "message": "3 schema violations (host: required field missing; "
                   "name: invalid name: use letters, digits, '.', '-', '_' or '~'; "
                   "port: Input should be less than or equal to 65535)",
        "fields": {"host": "required field missing",
                   "name": "invalid name: use letters, digits, '.', '-', '_' or '~'",
                   "port": "Input should be less than or equal to 65535"},
    }
    assert (await admin.get("/services")).json()["data"] == []  # nothing stored


async def test_entity_level_check_is_listed_under_at_entity(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/routes", json={"protocols": ["http"]})
    assert response.status_code == 400
    assert response.json()["fields"] == {
        "@entity": ["must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'"]}
    assert response.json()["message"].startswith("schema violation (must set one of")


async def test_unique_violation(admin: httpx.AsyncClient) -> None:
    await created(admin, "/services", name="x", host="a.internal")
    response = await admin.post("/services", json={"name": "x", "host": "b.internal"})
    assert response.status_code == 409
    assert response.json() == {"message": "UNIQUE violation detected on '{name=\"x\"}'",
                               "name": "unique constraint violation", "fields": {"name": "x"}, "code": 5}


async def test_one_plugin_per_name_and_scope(admin: httpx.AsyncClient) -> None:
    service = await created(admin, "/services", name="svc", host="a.internal")
    await created(admin, "/services/svc/plugins", name="correlation-id")
    response = await admin.post("/services/svc/plugins", json={"name": "correlation-id"})
    assert response.status_code == 409
    assert response.json()["message"] == (
        "UNIQUE violation detected on '{consumer=null,name=\"correlation-id\",route=null,"
        f"service={{id=\"{service['id']}\"}}}}'")
    await created(admin, "/plugins", name="correlation-id")  # the global scope is another scope


async def test_primary_key_violation(admin: httpx.AsyncClient) -> None:
    service = await created(admin, "/services", host="a.internal")
    response = await admin.post("/services", json={"id": service["id"], "host": "b.internal"})
    assert response.status_code == 409
    assert response.json()["code"] == 3
    assert response.json()["fields"] == {"id": service["id"]}


async def test_foreign_key_violation(admin: httpx.AsyncClient) -> None:
    missing = "4c0cdb9a-5d2f-4a31-8c4b-55a4e7f3a0b1"
    response = await admin.post("/routes", json={"paths": ["/x"], "service": {"id": missing}})
    assert response.status_code == 400
    assert response.json() == {
        "code": 4, "name": "foreign key violation", "fields": {"service": {"id": missing}},
        "message": f"the foreign key '{{id=\"{missing}\"}}' does not reference an existing 'services' entity."}
    by_name = await admin.post("/routes", json={"paths": ["/x"], "service": {"name": "ghost"}})
    assert by_name.json()["fields"] == {"service": {"name": "ghost"}}


async def test_plugin_config_errors_surface_as_on_the_data_plane(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/plugins", json={"name": "openid-connect", "config": {"scopes": "openid"}})
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert fields["config"]["issuer"] == "required field missing"
    assert "scopes" in fields["config"]
    unknown = await admin.post("/plugins", json={"name": "no-such-plugin"})
    assert unknown.status_code == 400
    assert unknown.json()["fields"]["name"].startswith("plugin 'no-such-plugin' not enabled")


async def test_not_found_and_method_not_allowed(admin: httpx.AsyncClient) -> None:
    assert (await admin.get("/services/nope")).json() == {"message": "Not found"}
    assert (await admin.get("/nothing-here")).status_code == 404
    assert (await admin.patch("/services/nope", json={})).status_code == 404
    response = await admin.delete("/services")
    assert response.status_code == 405 and response.json() == {"message": "Method not allowed"}


@pytest.mark.parametrize(("content", "content_type", "status"), [
    (b"{not json", "application/json", 400),
    (b"[1, 2]", "application/json", 400),
    (b'"\\ud800"', "application/json", 400),
    (b"<xml/>", "application/xml", 415),
    (b"a[]b=1", "application/x-www-form-urlencoded", 400),
    (b"\xff\xfe=1", "application/x-www-form-urlencoded", 400),
    (b"a=1&a.b=2", "application/x-www-form-urlencoded", 400),
])
async def test_unparsable_bodies_are_4xx(admin: httpx.AsyncClient, content: bytes, content_type: str,
                                         status: int) -> None:
    response = await admin.post("/services", content=content, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    assert "message" in response.json()


async def test_values_the_database_cannot_hold_are_schema_violations(admin: httpx.AsyncClient) -> None:
    nul = await admin.post("/consumers", json={"username": "a\u0000b"})
    assert nul.status_code == 400 and nul.json()["fields"] == {"username": "must not contain NUL characters"}
    long_target = await admin.post("/upstreams", json={"name": "u.internal"})
    assert long_target.status_code == 201
    too_long = await admin.post("/upstreams/u.internal/targets", json={"target": "a" * 400})
    assert too_long.status_code == 400 and "at most" in too_long.json()["fields"]["target"]
    assert (await admin.get("/consumers/a%00b")).status_code == 404
    assert (await admin.get("/consumers", params={"custom_id": "\u0000"})).json()["data"] == []


async def test_body_size_limit(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/services", json={"host": "a.internal", "tags": ["x" * 100] * 20000})
    assert response.status_code == 413
