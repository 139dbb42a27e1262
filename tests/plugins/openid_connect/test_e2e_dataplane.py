"""Through a real data plane: `oidcgate dp --config kong.yml` in front of `oidcgate echo`, with the
openid-connect plugin against two real providers, the embedded `oidcgate idp` and oauth2-mock-server.

The walkthrough of issue 4 (`curl -u id:secret` → 200 with `Issuer-Header` in the echo; the same token
as a bearer → 200; every kind of bad token → the right 401/403), caching proven by the provider's own
request counts, and an outage seen from a client.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from oidcgate.plugins.openid_connect.attempts import LIMIT, WINDOW
from oidcgate.plugins.openid_connect.client_auth import basic_authorization
from tests.idp.helpers import Idp, running_idp
from tests.plugins.openid_connect.providers import AUDIENCE, MOCK_CLIENTS, MockProvider
from tests.proxy import rawhttp
from tests.support import forge
from tests.support.processes import Proc, free_port, start

pytestmark = pytest.mark.e2e
HEADERS = {"upstream_headers_claims": ["iss"], "upstream_headers_names": ["Issuer_Header"]}


@dataclass
class Stack:
    proxy: str
    status: str
    idp: Idp
    client: dict[str, Any]
    mock: MockProvider
    dp: Proc
    config: Path

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.proxy + path, timeout=30, **kwargs)


def kong_yml(echo: str, idp: Idp, mock: MockProvider) -> dict[str, Any]:
    return {"_format_version": "3.0", "services": [{"name": "echo", "url": f"{echo}/anything", "routes": [
        {"name": "idp", "paths": ["/idp"], "plugins": [{"name": "openid-connect", "config": {
            "issuer": idp.issuer(), "scopes": ["orders:read"], **HEADERS}}]},
        {"name": "mock", "paths": ["/mock"], "plugins": [{"name": "openid-connect", "config": {
            "issuer": mock.issuer, "scopes": ["orders:read"], "scopes_required": ["orders:read"],
            "audience_required": [AUDIENCE], "hide_credentials": True, "bearer_token_typ_jwt_allowed": True,
            **HEADERS}}]},
        {"name": "as-is", "paths": ["/as-is"], "plugins": [{"name": "openid-connect", "config": {
            "issuer": idp.issuer(), "auth_methods": ["bearer"], "upstream_access_token_header": None}}]},
    ]}]}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, mock: MockProvider) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("e2e-dp")
    echo_port, proxy_port, status_port = free_port(), free_port(), free_port()
    with running_idp(work) as idp:
        client = idp.cc_client(scopes=("orders:read", "orders:write"))
        echo = start(["echo", "--listen", f"127.0.0.1:{echo_port}"], work / "echo.log", [echo_port])
        config = work / "kong.yml"
        config.write_text(yaml.safe_dump(kong_yml(f"http://127.0.0.1:{echo_port}", idp, mock)))
        dp = start(["dp", "--config", str(config), "--proxy-listen", f"127.0.0.1:{proxy_port}",
                    "--status-listen", f"127.0.0.1:{status_port}", "--workers", "1", "--prefix", str(work / "dp"),
                    "--trusted-ips", "127.0.0.1/32"],  # as behind a load balancer: X-Forwarded-For names the client
                   work / "dp.log", [proxy_port, status_port])
        try:
            yield Stack(f"http://127.0.0.1:{proxy_port}", f"http://127.0.0.1:{status_port}", idp, client, mock, dp,
                        config)
        finally:
            dp.stop()
            echo.stop()


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": basic_authorization(client_id, secret)}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refusal(response: httpx.Response) -> tuple[int, str, Any]:
    return response.status_code, response.headers.get("www-authenticate", ""), response.json()


def test_walkthrough_with_the_embedded_identity_provider(stack: Stack) -> None:
    status, challenge, body = refusal(stack.get("/idp/orders"))
    assert (status, challenge, body) == (401, 'Bearer realm="oidcgate"', {"message": "Unauthorized"})

    # curl -u id:secret (the embedded provider's secrets are URL-safe, so raw and RFC 6749 Basic agree)
    response = stack.get("/idp/orders", auth=(stack.client["client_id"], stack.client["client_secret"]))
    assert response.status_code == 200, response.text
    echoed = response.json()["headers"]
    assert echoed["Issuer-Header"] == stack.idp.issuer()
    token = echoed["authorization"].removeprefix("Bearer ")  # upstream_access_token_header's name, as written
    assert token.count(".") == 2 and "Authorization" not in echoed

    direct = stack.get("/idp/orders", headers=bearer(token))
    assert direct.status_code == 200 and direct.json()["headers"]["Issuer-Header"] == stack.idp.issuer()

    wrong = stack.get("/idp/orders", auth=(stack.client["client_id"], "wrong-secret"))
    assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert "wrong-secret" not in wrong.text


def provider_signed(mock: MockProvider, **changes: Any) -> str:
    now = int(time.time())
    payload = {"iss": mock.issuer, "sub": "svc", "aud": AUDIENCE, "scope": "orders:read", "iat": now,
               "exp": now + 300, **changes}
    return forge.sign(payload, mock.signing_key())


def test_walkthrough_with_a_third_party_provider(stack: Stack) -> None:
    mock = stack.mock
    assert stack.get("/mock/x").status_code == 401
    response = stack.get("/mock/x", headers=basic("svc", MOCK_CLIENTS["svc"]["secret"]))
    assert response.status_code == 200, response.text
    echoed = response.json()["headers"]
    assert echoed["Issuer-Header"] == mock.issuer
    assert stack.get("/mock/x", headers={"Authorization": echoed["authorization"]}).status_code == 200
    hidden = stack.get("/mock/x", params={"client_id": "svc", "client_secret": MOCK_CLIENTS["svc"]["secret"],
                                          "page": "2"})
    assert hidden.status_code == 200 and hidden.json()["args"] == {"page": "2"}  # hide_credentials
    form = httpx.post(stack.proxy + "/mock/x", timeout=30, data={
        "client_id": "svc", "client_secret": MOCK_CLIENTS["svc"]["secret"], "item": "42"})
    assert form.status_code == 200 and form.json()["form"] == {"item": "42"}

    now = int(time.time())
    key = mock.signing_key()
    good = provider_signed(mock)
    cases = {
        "wrong secret": (basic("svc", "wrong"), 401, "invalid_token"),
        "expired": (bearer(provider_signed(mock, iat=now - 900, exp=now - 60)), 401, "the token has expired"),
        "tampered": (bearer(forge.tampered(good, scope="orders:read orders:admin")), 401, "signature is invalid"),
        "wrong issuer": (bearer(provider_signed(mock, iss="http://127.0.0.1:9/other")), 401, "issuer"),
        "wrong audience": (bearer(provider_signed(mock, aud="api://other")), 401, "audience"),
        "alg none": (bearer(forge.unsigned({"iss": mock.issuer, "aud": AUDIENCE, "scope": "orders:read"},
                                           kid=key.kid)), 401, "algorithm is not accepted"),
        "HS256 with the public key": (bearer(forge.hs256_with_public_key(
            {"iss": mock.issuer, "aud": AUDIENCE, "scope": "orders:read"},
            forge.RSAKey.import_key(dict(key.as_dict(private=False))))), 401, "algorithm is not accepted"),
        "missing scope": (bearer(provider_signed(mock, scope="orders:write")), 403, "insufficient_scope"),
    }
    for name, (headers, status, expected) in cases.items():
        refused = stack.get("/mock/x", headers=headers)
        assert refused.status_code == status, name
        assert expected in refused.headers["www-authenticate"], name
        assert refused.json() == {"message": "Forbidden" if status == 403 else "Unauthorized"}, name


def test_two_authorization_fields_are_refused_on_the_wire(stack: Stack) -> None:
    """With `upstream_access_token_header: null` the client's fields go upstream as sent, so a second
    Authorization field could carry a forged token to an upstream that reads the last one: 400."""
    issued = httpx.post(stack.idp.endpoint("token"), data={"grant_type": "client_credentials", "scope": "orders:read"},
                        auth=(stack.client["client_id"], stack.client["client_secret"]), timeout=10)
    token = issued.json()["access_token"]
    port = int(stack.proxy.rsplit(":", 1)[1])

    def send(*authorizations: str) -> rawhttp.Response:
        conn = rawhttp.Conn(port)
        try:
            fields = "".join(f"Authorization: {value}\r\n" for value in authorizations)
            conn.send(f"GET /as-is/x HTTP/1.1\r\nHost: gw\r\n{fields}Connection: close\r\n\r\n".encode())
            return conn.response()
        finally:
            conn.close()

    for attempt in ("cold", "after the single field was accepted (the data plane's shortcut is armed)"):
        smuggled = send(f"Bearer {token}", "Bearer forged.admin.token")
        assert smuggled.status == 400, attempt
        assert smuggled.header("www-authenticate") == (
            'Bearer realm="oidcgate", error="invalid_request", '
            'error_description="the request has more than one Authorization header"'), attempt
        single = send(f"Bearer {token}")
        assert single.status == 200, attempt
        assert single.json()["headers"]["Authorization"] == f"Bearer {token}"  # type: ignore[index]


def test_an_address_spraying_wrong_secrets_is_throttled_on_the_wire(stack: Stack) -> None:
    """Behind a trusted proxy the client's address is the one X-Forwarded-For names: an address spraying wrong
    secrets for someone else's client id makes LIMIT provider calls, then gets 429; the client's right secret
    from another address works at once."""
    before = stack.mock.counts()["token"]
    attacker = {"X-Forwarded-For": "198.51.100.1, 203.0.113.66"}  # (the left part is the attacker's own say)
    with httpx.Client(timeout=30) as session:
        answers = [session.get(stack.proxy + "/mock/x", headers={**basic("svc", f"guess-{index}"), **attacker})
                   for index in range(LIMIT + 3)]
    assert [a.status_code for a in answers] == [401] * LIMIT + [429] * 3
    assert stack.mock.counts()["token"] - before == LIMIT
    assert 0 < int(answers[-1].headers["retry-after"]) <= WINDOW
    assert answers[-1].json() == {"message": "Too Many Requests: too many refused client credentials from this address"}
    other = stack.get("/mock/x", headers={**basic("svc", "a-typo"), "X-Forwarded-For": "198.51.100.2"})
    assert other.status_code == 401  # another address is not throttled: the provider was asked
    assert stack.mock.counts()["token"] - before == LIMIT + 1
    right = stack.get("/mock/x", headers={**basic("svc", MOCK_CLIENTS["svc"]["secret"]),
                                          "X-Forwarded-For": "198.51.100.3"})
    assert right.status_code == 200


def test_provider_calls_per_request(stack: Stack) -> None:
    """1,000 requests with one client's credentials and 50 concurrent first requests of another: one token
    request each; the keys were fetched once for the whole module."""
    mock = stack.mock
    before = mock.counts()
    with httpx.Client(timeout=30) as session:
        for _ in range(1000):
            assert session.get(stack.proxy + "/mock/x", headers=basic("svc", MOCK_CLIENTS["svc"]["secret"])
                               ).status_code == 200

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=30) as session:
            responses = await asyncio.gather(*(
                session.get(stack.proxy + "/mock/x", headers=basic("reader", MOCK_CLIENTS["reader"]["secret"]))
                for _ in range(50)))
        return [r.status_code for r in responses]

    assert asyncio.run(burst()) == [200] * 50
    after = mock.counts()
    assert after["token"] - before["token"] == 1  # svc's token was cached by the walkthrough; reader's: 1
    assert after["jwks"] == 1 and after["discovery"] == 1  # once since the data plane started


def test_caches_survive_a_configuration_reload(stack: Stack) -> None:
    """A new configuration builds new plugin instances, but discovery, keys and tokens stay cached."""
    before_hash = httpx.get(stack.status + "/status", timeout=10).json()["configuration_hash"]
    doc = yaml.safe_load(stack.config.read_text())
    doc["services"][0]["routes"][1]["plugins"][0]["config"]["upstream_headers_claims"] = ["iss", "sub"]
    doc["services"][0]["routes"][1]["plugins"][0]["config"]["upstream_headers_names"] = ["Issuer_Header", "X-Sub"]
    stack.config.write_text(yaml.safe_dump(doc))
    os.kill(stack.dp.popen.pid, signal.SIGHUP)
    deadline = time.monotonic() + 20
    while httpx.get(stack.status + "/status", timeout=10).json()["configuration_hash"] == before_hash:
        assert time.monotonic() < deadline, "the data plane did not load the new configuration"
        time.sleep(0.1)
    before = stack.mock.counts()
    response = stack.get("/mock/x", headers=basic("svc", MOCK_CLIENTS["svc"]["secret"]))
    assert response.status_code == 200 and response.json()["headers"]["X-Sub"] == "svc"  # the new config
    assert stack.mock.counts() == before  # no discovery, JWKS or token request


def test_outage_and_recovery(stack: Stack) -> None:
    mock = stack.mock
    signed_before = provider_signed(mock)
    mock.stop()
    try:
        cached = stack.get("/mock/x", headers=basic("svc", MOCK_CLIENTS["svc"]["secret"]))
        assert cached.status_code == 200
        assert stack.get("/mock/x", headers=bearer(signed_before)).status_code == 200  # cached keys
        unknown = stack.get("/mock/x", headers=basic("mallory", MOCK_CLIENTS["mallory"]["secret"]))
        assert unknown.status_code == 502
        assert unknown.json() == {"message": "Bad Gateway: the identity provider could not be reached (token)"}
    finally:
        mock.start()
    assert stack.get("/mock/x", headers=basic("reader", MOCK_CLIENTS["reader"]["secret"])).status_code == 200
    recovered = stack.get("/mock/x", headers=basic("svc", "a-new-wrong-secret"))
    assert recovered.status_code == 401  # the provider answers again (a refusal, not a 502)
