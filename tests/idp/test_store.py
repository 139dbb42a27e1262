"""The store and the service layer on SQLite and on PostgreSQL (a schema of its own per test run),
and the provider served in-process through httpx's ASGI transport."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from oidcgate.idp import server, service
from oidcgate.idp.hashing import Argon2Cost, SecretHasher
from oidcgate.idp.settings import Settings
from oidcgate.idp.storage.store import RefreshToken, Store
from tests.idp.helpers import running_idp, token_request, verify_jwt
from tests.support.postgres import throwaway_schema
from tests.support.processes import free_port

FAST_COST = Argon2Cost(time_cost=1, memory_cost=1024, parallelism=1)
FAST = SecretHasher(FAST_COST)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A fresh schema on the local PostgreSQL, dropped afterwards; the URL selects it with search_path."""
    with throwaway_schema("idp_test") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    opened = service.open_store(url)
    try:
        yield opened
    finally:
        opened.close()


def test_single_use_operations_are_atomic(store: Store) -> None:
    now = int(time.time())
    assert store.remember_assertion("c", f"jti-{now}", now + 60)
    assert not store.remember_assertion("c", f"jti-{now}", now + 60)
    family = secrets.token_hex(8)
    row = RefreshToken(token_hash=secrets.token_hex(32), family_id=family, server_id="default", client_id="c",
                       user_id="u", scope="openid", auth_time=now, created_at=now, expires_at=now + 60,
                       status="active", access_jti=f"at-{family}", access_exp=now + 60)
    store.add(row)
    assert store.rotate_refresh_token(row.token_hash) is not None
    assert store.rotate_refresh_token(row.token_hash) is None
    store.revoke_family(family)
    store.revoke_family(family)  # idempotent
    assert store.is_revoked(f"at-{family}")
    store.purge_expired(now + 3600)
    assert not store.is_revoked(f"at-{family}") and store.get(RefreshToken, row.token_hash) is None


def test_service_layer(store: Store) -> None:
    created = service.create_client(store, service.ClientSpec(name="svc", grant_types=["client_credentials"],
                                                              scopes=["x:read"]), FAST)
    assert created.client_secret and FAST.verify(store.get(service.Client, created.client_id).secret_hash,
                                                 created.client_secret)
    assert "x:read" in {scope["name"] for scope in service.list_scopes(store)}
    user = service.create_user(store, service.UserSpec(username=f"u{secrets.token_hex(3)}", password="password1",
                                                       groups=["g"]), FAST)
    assert service.find_user(store, user["username"]).id == user["id"]
    with pytest.raises(service.Conflict):
        service.create_user(store, service.UserSpec(username=user["username"], password="password2"), FAST)
    rotated = service.rotate_keys(store, "default", "ES256")
    listed = service.list_keys(store)
    assert listed[-1]["kid"] == rotated["kid"] and all(key["retired_at"] for key in listed[:-1])
    service.delete_client(store, created.client_id)
    with pytest.raises(service.NotFound):
        service.delete_client(store, created.client_id)
    with pytest.raises(service.ServiceError) as problems:
        service.validated(service.ClientSpec, {"name": "web", "grant_types": ["authorization_code", "refresh_token"],
                                               "token_endpoint_auth_method": "private_key_jwt"})
    assert "redirect URI" in str(problems.value) and "jwks" in str(problems.value)


async def test_in_process_with_asgi_transport(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'idp.db'}", port=9000, argon2=FAST_COST)
    app = server.build(settings)
    store = service.open_store(settings.database_url)
    created = service.create_client(store, service.ClientSpec(name="svc", grant_types=["client_credentials"],
                                                              scopes=["x:read"]), FAST)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:9000") as client:
        answer = await client.post("/oauth2/default/v1/token", data={"grant_type": "client_credentials"},
                                   auth=(created.client_id, created.client_secret or ""))
        jwks = (await client.get("/oauth2/default/v1/keys")).json()
    assert answer.status_code == 200
    verify_jwt(answer.json()["access_token"], jwks, iss="http://127.0.0.1:9000/oauth2/default")


@pytest.mark.e2e
def test_provider_process_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    port = free_port()
    with running_idp(tmp_path, database=postgres_url, port=port) as idp:
        client = idp.cc_client()
        kept = token_request(idp, {"grant_type": "client_credentials"},
                             auth=(client["client_id"], client["client_secret"])).json()["access_token"]
        revoked = token_request(idp, {"grant_type": "client_credentials"},
                                auth=(client["client_id"], client["client_secret"])).json()["access_token"]
        assert httpx.post(idp.endpoint("revoke"), data={"token": revoked},
                          auth=(client["client_id"], client["client_secret"])).status_code == 200
    with running_idp(tmp_path, database=postgres_url, port=port) as idp:
        verify_jwt(kept, idp.jwks(), iss=idp.issuer())
        auth = (client["client_id"], client["client_secret"])
        assert httpx.post(idp.endpoint("introspect"), data={"token": kept}, auth=auth).json()["active"] is True
        assert httpx.post(idp.endpoint("introspect"), data={"token": revoked}, auth=auth).json() == {"active": False}
        # PostgreSQL text cannot hold NUL: such input is refused or finds nothing, never a 500.
        nul_requests = [
            ("POST", idp.endpoint("token"), {"data": {"grant_type": "client_credentials"}, "auth": ("a\x00b", "s")}),
            ("POST", idp.endpoint("token"), {"data": {"grant_type": "client_credentials", "client_id": "a\x00"}}),
            ("POST", f"{idp.base_url}/oauth2/x%00y/v1/token", {"data": {"grant_type": "client_credentials"}}),
            ("GET", f"{idp.base_url}/oauth2/x%00y/v1/keys", {}),
            ("GET", f"{idp.base_url}/api/v1/clients/a%00b", {"headers": {"Authorization": "SSWS test-admin-token"}}),
            ("DELETE", f"{idp.base_url}/api/v1/scopes/a%00b", {"headers": {"Authorization": "SSWS test-admin-token"}}),
            ("POST", f"{idp.base_url}/api/v1/users", {"json": {"username": "a\x00b", "password": "12345678"},
                                                      "headers": {"Authorization": "SSWS test-admin-token"}}),
        ]
        for method, url, kwargs in nul_requests:
            answer = httpx.request(method, url, timeout=10, **kwargs)
            assert 400 <= answer.status_code < 500, (url, answer.status_code, answer.text)


def test_a_retired_key_leaves_the_jwks_once_its_tokens_have_expired(tmp_path: Path) -> None:
    from oidcgate.idp.storage.keys import KeyRing
    from oidcgate.idp.storage.store import SigningKey

    store = service.open_store(f"sqlite:///{tmp_path / 'keys.db'}")
    old_kid = store.keys("default")[0].kid
    new_kid = service.rotate_keys(store, "default")["kid"]
    ring = KeyRing(store, reload_interval=0)
    assert {key["kid"] for key in ring.jwks("default")["keys"]} == {old_kid, new_kid}
    assert ring.signing_key("default").kid == new_kid

    old = store.get(SigningKey, old_kid)
    assert old is not None and old.publish_until is not None
    old.publish_until = int(time.time()) - 1  # as if the longest token lifetime had passed
    store.merge(old)
    assert [key["kid"] for key in ring.jwks("default")["keys"]] == [new_kid]
    store.purge_expired(int(time.time()))
    assert [row.kid for row in store.keys("default")] == [new_kid]
    store.close()
