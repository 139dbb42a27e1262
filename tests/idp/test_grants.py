"""The token endpoint's grants registry: a grant is added in one place and the provider serves it."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from oidcgate.idp import service
from oidcgate.idp.grants import DEFAULT_GRANTS, GRANT_TYPES, Grant
from oidcgate.idp.hashing import Argon2Cost
from oidcgate.idp.protocol.rfc6749_errors import UnsupportedGrantType
from oidcgate.idp.provider import Provider
from oidcgate.idp.settings import Settings
from oidcgate.idp.storage.store import AuthServer, Client


class EchoGrant(Grant):
    GRANT_TYPE = "client_credentials"  # replaces the registered one: registration is by grant type

    def token_response(self, server: AuthServer, client: Client, params: dict[str, str]) -> dict[str, Any]:
        return {"grant": "echo", "client_id": client.client_id, "server": server.id}


@pytest.fixture
def provider(tmp_path: Path) -> Provider:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'idp.db'}",
                        argon2=Argon2Cost(time_cost=1, memory_cost=1024, parallelism=1))
    return Provider(settings, service.open_store(settings.database_url))


def test_the_provider_serves_and_the_client_api_accepts_exactly_the_registered_grants(provider: Provider) -> None:
    assert GRANT_TYPES == ("authorization_code", "client_credentials", "refresh_token")  # discovery's order
    assert tuple(provider.grants) == GRANT_TYPES == tuple(grant.GRANT_TYPE for grant in DEFAULT_GRANTS)
    with pytest.raises(service.ServiceError) as refused:
        service.validated(service.ClientSpec, {"name": "x", "grant_types": ["client_credentials", "password"]})
    assert str(refused.value) == ("grant_types.1: Input should be 'authorization_code', 'client_credentials' "
                                  "or 'refresh_token'")


def test_the_token_endpoint_dispatches_on_the_registry(provider: Provider) -> None:
    created = service.create_client(provider.store, service.ClientSpec(
        name="svc", grant_types=["client_credentials"], scopes=["orders:read"]), provider.hasher)
    basic = "Basic " + base64.b64encode(f"{created.client_id}:{created.client_secret}".encode()).decode()
    issued = provider.token("default", {"grant_type": "client_credentials"}, basic, "192.0.2.1")
    assert issued["token_type"] == "Bearer" and issued["scope"] == "orders:read"
    provider.register_grant(EchoGrant)
    assert provider.token("default", {"grant_type": "client_credentials"}, basic, "192.0.2.1") == {
        "grant": "echo", "client_id": created.client_id, "server": "default"}
    del provider.grants["client_credentials"]
    with pytest.raises(UnsupportedGrantType):
        provider.token("default", {"grant_type": "client_credentials"}, basic, "192.0.2.1")
