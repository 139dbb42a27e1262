"""The access phase against the embedded identity provider (`oidcgate idp`, a real process): Okta-style
issuer, RFC 9068 tokens, introspection with each client authentication method, key rotation."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from joserfc import jwk

from oidcgate.jwt.verify import unverified_parts
from oidcgate.plugins.openid_connect.discovery import MIN_REDISCOVERY_INTERVAL
from oidcgate.plugins.openid_connect.transport import provider_requests
from tests.idp.helpers import Idp, running_idp, user_tokens
from tests.plugins.openid_connect.harness import Gateway
from tests.support.clock import Clock

pytestmark = pytest.mark.e2e
MakeGateway = Callable[..., Gateway]


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idp]:
    with running_idp(tmp_path_factory.mktemp("idp")) as running:
        yield running


@pytest.fixture(scope="module")
def service(idp: Idp) -> dict[str, Any]:
    """An API client with the client credentials grant (what `curl -u id:secret` uses)."""
    return idp.cc_client(scopes=("orders:read", "orders:write"))


def token_for(idp: Idp, client: dict[str, Any], scope: str = "orders:read", server: str = "default") -> str:
    response = httpx.post(idp.endpoint("token", server), timeout=10, auth=(client["client_id"], client["client_secret"]),
                          data={"grant_type": "client_credentials", "scope": scope})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def config(idp: Idp, **extra: Any) -> dict[str, Any]:
    return {"issuer": idp.issuer(), "scopes": ["orders:read"], "upstream_headers_claims": ["iss"],
            "upstream_headers_names": ["Issuer_Header"], **extra}


async def test_client_credentials_walkthrough(idp: Idp, service: dict[str, Any], gateway: MakeGateway) -> None:
    gw = gateway(config(idp))
    assert (await gw.call()).status == 401
    before = provider_requests("token")
    for _ in range(100):
        result = await gw.basic(service["client_id"], service["client_secret"])
        assert result.status == 200
    assert provider_requests("token") - before == 1
    assert result.upstream.get("Issuer-Header") == idp.issuer()
    token = (result.upstream.get("Authorization") or "").removeprefix("Bearer ")
    identity = result.ctx.identity
    assert identity is not None and identity.client_id == service["client_id"]
    assert identity.claims["aud"] == "api://default" and identity.scopes == ("orders:read",)

    direct = await gw.bearer(token)  # the same token, sent directly
    assert direct.status == 200 and direct.upstream.get("Issuer-Header") == idp.issuer()
    assert (await gw.basic(service["client_id"], "wrong-secret")).status == 401


async def test_scope_defaults_with_an_okta_style_provider(idp: Idp, service: dict[str, Any],
                                                          gateway: MakeGateway) -> None:
    """Kong's default `scopes: [openid]` is refused for client credentials (as by Okta): 403, so configure
    the API's scopes, or [] for the client's granted ones."""
    refused = await gateway(config(idp, scopes=["openid"])).basic(service["client_id"], service["client_secret"])
    assert refused.status == 403
    assert "refused the requested scopes" in refused.description
    granted = await gateway(config(idp, scopes=[])).basic(service["client_id"], service["client_secret"])
    assert granted.status == 200
    assert granted.ctx.identity is not None
    assert granted.ctx.identity.scopes == ("orders:read", "orders:write")


async def test_audience_and_scope_requirements(idp: Idp, service: dict[str, Any], gateway: MakeGateway) -> None:
    token = token_for(idp, service, "orders:read")
    ok = gateway(config(idp, audience_required=["api://default"], scopes_required=["orders:write", "orders:read"]))
    assert (await ok.bearer(token)).status == 200
    assert (await gateway(config(idp, audience_required=["api://payments"])).bearer(token)).status == 401
    assert (await gateway(config(idp, scopes_required=["orders:read orders:write"])).bearer(token)).status == 403


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", "private_key_jwt"])
async def test_introspection_with_the_plugins_own_client(idp: Idp, service: dict[str, Any], gateway: MakeGateway,
                                                         method: str) -> None:
    own: dict[str, Any] = {"client_auth": [method]}
    if method == "private_key_jwt":
        key = jwk.generate_key("RSA", 2048, parameters={"alg": "RS256"}, auto_kid=True)
        registered = idp.cc_client(token_endpoint_auth_method=method, jwks={"keys": [key.as_dict(private=False)]})
        own |= {"client_id": [registered["client_id"]], "client_jwk": [dict(key.as_dict(private=True))]}
    else:
        registered = idp.cc_client(token_endpoint_auth_method=method)
        own |= {"client_id": [registered["client_id"]], "client_secret": [registered["client_secret"]]}
    gw = gateway(config(idp, auth_methods=["introspection"], **own))
    token = token_for(idp, service)
    before = provider_requests("introspection")
    for _ in range(10):
        result = await gw.bearer(token)
        assert result.status == 200, result.description
    assert provider_requests("introspection") - before == 1
    assert result.ctx.identity is not None and result.ctx.identity.source == "openid-connect:introspection"
    assert result.upstream.get("Issuer-Header") == idp.issuer()
    assert (await gw.bearer("not-a-token-at-all")).status == 401


async def test_revoked_token_is_inactive(idp: Idp, service: dict[str, Any], gateway: MakeGateway) -> None:
    resource_server = idp.cc_client()
    gw = gateway(config(idp, auth_methods=["introspection"], cache_introspection=False,
                        client_id=[resource_server["client_id"]], client_secret=[resource_server["client_secret"]]))
    token = token_for(idp, service)
    assert (await gw.bearer(token)).status == 200
    revoked = httpx.post(idp.endpoint("revoke"), data={"token": token}, timeout=10,
                         auth=(service["client_id"], service["client_secret"]))
    assert revoked.status_code == 200
    result = await gw.bearer(token)
    assert result.status == 401 and "the token is not active" in result.description


async def test_key_rotation_is_picked_up_by_rediscovery(idp: Idp, service: dict[str, Any],
                                                        gateway: MakeGateway) -> None:
    gw = gateway(config(idp, rediscovery_lifetime=0))
    gw.provider.clock = clock = Clock(time.monotonic)
    old = token_for(idp, service)
    assert (await gw.bearer(old)).status == 200
    rotated = idp.admin("POST", "/api/v1/keys/rotate", {})
    assert rotated.status_code == 200, rotated.text
    clock.advance(MIN_REDISCOVERY_INTERVAL)
    before = provider_requests("jwks")
    new = token_for(idp, service)
    assert (await gw.bearer(new)).status == 200
    assert provider_requests("jwks") - before == 1
    assert (await gw.bearer(old)).status == 200  # the old key is still published


async def test_an_id_token_is_not_an_access_token(idp: Idp, gateway: MakeGateway) -> None:
    """The ID token any browser app gets at sign-in is refused as a bearer token on a route that checks no
    audience: by its typ (the embedded provider types access tokens at+jwt and ID tokens JWT), and by its
    claims where the route allows JWT."""
    idp.create_user("ida")
    tokens = user_tokens(idp, idp.web_client(), "ida")
    strict = gateway(config(idp))
    assert (await strict.bearer(tokens["access_token"])).status == 200
    by_typ = await strict.bearer(tokens["id_token"])
    assert (by_typ.status, by_typ.body) == (401, {"message": "Unauthorized"})
    assert 'error_description="the token\'s typ is JWT where an access token\'s is at+jwt"' in by_typ.description
    lenient = gateway(config(idp, bearer_token_typ_jwt_allowed=True), env=strict.env)
    assert (await lenient.bearer(tokens["access_token"])).status == 200
    by_claims = await lenient.bearer(tokens["id_token"])
    assert by_claims.status == 401
    assert 'error_description="the token is an ID token, not an access token"' in by_claims.description


async def test_es256_authorization_server(idp: Idp, service: dict[str, Any], gateway: MakeGateway) -> None:
    created = idp.admin("POST", "/api/v1/authorizationServers",
                        {"id": "partners", "audience": "api://partners", "signing_alg": "ES256"})
    assert created.status_code == 201, created.text
    gw = gateway({"issuer": idp.issuer("partners") + "/.well-known/openid-configuration", "scopes": [],
                  "audience_required": ["api://partners"]})
    result = await gw.basic(service["client_id"], service["client_secret"])
    assert result.status == 200, result.description
    header, claims = unverified_parts((result.upstream.get("Authorization") or "").removeprefix("Bearer "))
    assert header["alg"] == "ES256" and claims["iss"] == idp.issuer("partners")
    other_server = await gateway(config(idp)).bearer(token_for(idp, service, server="partners"))
    assert other_server.status == 401  # signed by another server's key, for another issuer
