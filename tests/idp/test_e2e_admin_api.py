"""The REST admin API: SSWS token, validation, and the same service layer as the CLI."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.idp.helpers import ADMIN_TOKEN, Idp, running_idp, token_request

pytestmark = pytest.mark.e2e


def test_requires_the_admin_token(idp: Idp) -> None:
    for headers in ({}, {"Authorization": "SSWS wrong"}, {"Authorization": f"Bearer {ADMIN_TOKEN}"}):
        answer = httpx.get(f"{idp.base_url}/api/v1/clients", headers=headers)
        assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("SSWS")
    assert httpx.post(f"{idp.base_url}/api/v1/users", json={"username": "x", "password": "12345678"}).status_code == 401


def test_crud(idp: Idp) -> None:
    client = idp.create_client(name="api", grant_types=["client_credentials"], scopes=["inventory:read"])
    assert client["client_secret"] and idp.admin("GET", f"/api/v1/clients/{client['client_id']}").json()["name"] == "api"
    assert "client_secret" not in idp.admin("GET", f"/api/v1/clients/{client['client_id']}").json()
    token = token_request(idp, {"grant_type": "client_credentials"}, auth=(client["client_id"], client["client_secret"]))
    assert token.status_code == 200

    resource_server = idp.cc_client()
    introspect = {"data": {"token": token.json()["access_token"]},
                  "auth": (resource_server["client_id"], resource_server["client_secret"])}
    assert httpx.post(idp.endpoint("introspect"), **introspect).json()["active"] is True
    assert idp.admin("DELETE", f"/api/v1/clients/{client['client_id']}").status_code == 204
    assert httpx.post(idp.endpoint("introspect"), **introspect).json() == {"active": False}
    assert idp.admin("GET", f"/api/v1/clients/{client['client_id']}").status_code == 404
    gone = token_request(idp, {"grant_type": "client_credentials"}, auth=(client["client_id"], client["client_secret"]))
    assert gone.status_code == 401  # the verification cache does not outlive the client

    user = idp.create_user("carol", groups=["ops"])
    assert idp.admin("GET", "/api/v1/users/carol").json()["id"] == user["id"]
    assert idp.admin("POST", "/api/v1/users", {"username": "carol", "password": "12345678"}).status_code == 409
    assert idp.admin("DELETE", f"/api/v1/users/{user['id']}").status_code == 204

    assert idp.admin("POST", "/api/v1/scopes", {"name": "billing:read", "description": "Bills"}).status_code == 201
    assert "billing:read" in {scope["name"] for scope in idp.admin("GET", "/api/v1/scopes").json()}
    assert "billing:read" in httpx.get(f"{idp.issuer()}/.well-known/oauth-authorization-server").json()[
        "scopes_supported"]

    updated = idp.admin("PUT", "/api/v1/authorizationServers/default", {"audience": "api://gateway"})
    assert updated.status_code == 200 and updated.json()["audience"] == "api://gateway"
    try:
        service = idp.cc_client()
        token = token_request(idp, {"grant_type": "client_credentials"},
                              auth=(service["client_id"], service["client_secret"])).json()
        introspected = httpx.post(idp.endpoint("introspect"), data={"token": token["access_token"]},
                                  auth=(service["client_id"], service["client_secret"])).json()
        assert introspected["aud"] == "api://gateway"
    finally:
        idp.admin("PUT", "/api/v1/authorizationServers/default", {"audience": "api://default"})


def test_validation_reports_every_problem(idp: Idp) -> None:
    answer = idp.admin("POST", "/api/v1/clients", {"name": "", "grant_types": ["implicit"], "colour": "blue"})
    assert answer.status_code == 400
    description = answer.json()["error_description"]
    assert "name" in description and "grant_types" in description and "colour" in description
    assert idp.admin("POST", "/api/v1/clients", ["not", "an", "object"]).status_code == 400
    broken = httpx.post(f"{idp.base_url}/api/v1/scopes", content=b"{not json",
                        headers={"Authorization": f"SSWS {ADMIN_TOKEN}"})
    assert broken.status_code == 400 and broken.json()["error"] == "invalid_request"
    assert idp.admin("POST", "/api/v1/keys/rotate", {"alg": "HS256"}).status_code == 400
    assert idp.admin("DELETE", "/api/v1/authorizationServers/default").status_code == 400


def test_disabled_without_a_token(tmp_path: Path) -> None:
    with running_idp(tmp_path, admin_token=None) as idp:
        answer = httpx.get(f"{idp.base_url}/api/v1/clients", headers={"Authorization": "SSWS anything"})
        assert answer.status_code == 404
