"""Options that change where the plugin talks to: `ssl_verify`, `extra_jwks_uris`, and the `token_endpoint` /
`introspection_endpoint` overrides, against real servers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.plugins.openid_connect.harness import Gateway
from tests.plugins.openid_connect.providers import (
    AUDIENCE,
    MOCK_CLIENTS,
    MockProvider,
    self_signed_certificate,
)
from tests.support import forge
from tests.support.processes import free_port

pytestmark = pytest.mark.e2e
MakeGateway = Callable[..., Gateway]
SVC_SECRET = MOCK_CLIENTS["svc"]["secret"]


@pytest.fixture(scope="module")
def https_mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockProvider]:
    work = tmp_path_factory.mktemp("https-mock")
    provider = MockProvider(work, tls=self_signed_certificate(work)).start()
    try:
        yield provider
    finally:
        provider.stop()


async def test_ssl_verify_refuses_an_untrusted_certificate(https_mock: MockProvider, gateway: MakeGateway) -> None:
    assert https_mock.issuer.startswith("https://")
    verified = await gateway({"issuer": https_mock.issuer, "scopes": []}).basic("svc", SVC_SECRET)
    assert verified.status == 502  # the default, ssl_verify: true
    assert verified.body == {"message": "Bad Gateway: the identity provider could not be reached (discovery)"}
    trusted = await gateway({"issuer": https_mock.issuer, "scopes": [], "ssl_verify": False}).basic("svc", SVC_SECRET)
    assert trusted.status == 200


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, forge.RSAKey]]:
    """A plain HTTP server publishing one extra key, as a second JWKS location of the issuer."""
    key = forge.rsa_key("extra-key")
    body = json.dumps(forge.jwks(key)).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/keys", key
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def test_extra_jwks_uris_add_trusted_keys(mock: MockProvider, gateway: MakeGateway,
                                                jwks_server: tuple[str, forge.RSAKey]) -> None:
    url, key = jwks_server
    token = forge.sign({"iss": mock.issuer, "aud": AUDIENCE, "exp": int(time.time()) + 60}, key, typ="at+jwt")
    assert (await gateway({"issuer": mock.issuer}).bearer(token)).status == 401
    assert (await gateway({"issuer": mock.issuer, "extra_jwks_uris": [url]}).bearer(token)).status == 200


async def test_endpoint_overrides_are_used(mock: MockProvider, gateway: MakeGateway) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/v1"
    overridden = await gateway({"issuer": mock.issuer, "scopes": [], "token_endpoint": f"{nowhere}/token"}).basic(
        "svc", SVC_SECRET)
    assert overridden.status == 502
    assert overridden.body == {"message": "Bad Gateway: the identity provider could not be reached (token)"}
    introspecting = gateway({"issuer": mock.issuer, "auth_methods": ["introspection"], "client_id": ["gw"],
                             "client_secret": ["s"], "introspection_endpoint": f"{nowhere}/introspect"})
    result = await introspecting.bearer("an-opaque-token")
    assert result.status == 502
    assert result.body == {"message": "Bad Gateway: the identity provider could not be reached (introspection)"}
