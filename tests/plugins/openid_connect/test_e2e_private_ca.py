"""openid-connect against the embedded provider on HTTPS with a certificate from a private CA, through a
real data plane: trusted through the CA bundle setting (Kong's `lua_ssl_trusted_certificate`), refused
without it (502, never an unverified call), and `ssl_verify: false` as the documented escape hatch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from oidcgate.plugins.openid_connect.client_auth import basic_authorization
from tests.idp.helpers import Idp, IdpTLS, running_idp, token_request
from tests.proxy.conftest import Launcher, StartDP
from tests.support.pki import CA
from tests.support.processes import free_port, running

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idp]:
    work = tmp_path_factory.mktemp("idp-tls")
    ca = CA("private identity CA")
    cert, key = ca.issue("127.0.0.1", "localhost").write(work, "idp")
    bundle = work / "private-ca.pem"
    bundle.write_text(ca.cert)
    with running_idp(work, tls=IdpTLS(cert, key, bundle)) as running:
        yield running


@pytest.fixture(scope="module")
def echo_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    with running(["echo", "--listen", f"127.0.0.1:{port}"], tmp_path_factory.mktemp("echo") / "echo.log",
                 wait_ports=[port]):
        yield port


@pytest.fixture
def dataplane(tmp_path: Path) -> Iterator[StartDP]:
    launcher = Launcher(tmp_path)
    yield launcher
    launcher.stop_all()


def document(echo_port: int, idp: Idp, **config: Any) -> dict[str, Any]:
    return {"_format_version": "3.0", "services": [{"name": "echo", "url": f"http://127.0.0.1:{echo_port}/anything",
            "routes": [{"name": "oidc", "paths": ["/oidc"], "plugins": [{"name": "openid-connect", "config": {
                "issuer": idp.issuer(), "scopes": ["orders:read"], "upstream_headers_claims": ["iss"],
                "upstream_headers_names": ["Issuer_Header"], **config}}]}]}]}


def test_a_provider_behind_a_private_ca_through_the_ca_bundle(idp: Idp, dataplane: StartDP, echo_port: int) -> None:
    assert idp.issuer().startswith("https://127.0.0.1:")
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):  # not a public CA
        httpx.get(idp.issuer() + "/.well-known/openid-configuration", timeout=10)
    client = idp.cc_client()
    assert idp.tls is not None
    plane = dataplane(document(echo_port, idp), args=("--lua-ssl-trusted-certificate", str(idp.tls.ca)))

    basic = httpx.get(f"{plane.url}/oidc", timeout=30,
                      headers={"Authorization": basic_authorization(client["client_id"], client["client_secret"])})
    assert basic.status_code == 200, basic.text  # the plugin fetched a token from the provider over HTTPS
    assert basic.json()["headers"]["Issuer-Header"] == idp.issuer()
    token = token_request(idp, {"grant_type": "client_credentials", "scope": "orders:read"},
                          auth=(client["client_id"], client["client_secret"])).json()["access_token"]
    bearer = httpx.get(f"{plane.url}/oidc", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert bearer.status_code == 200, bearer.text  # verified with the keys fetched over HTTPS


def test_without_the_bundle_the_provider_is_not_trusted(idp: Idp, dataplane: StartDP, echo_port: int) -> None:
    client = idp.cc_client()
    token = token_request(idp, {"grant_type": "client_credentials", "scope": "orders:read"},
                          auth=(client["client_id"], client["client_secret"])).json()["access_token"]
    strict = dataplane(document(echo_port, idp))
    refused = httpx.get(f"{strict.url}/oidc", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert (refused.status_code, refused.json()) == (
        502, {"message": "Bad Gateway: the identity provider could not be reached (discovery)"})
    assert (f"{idp.issuer()}/.well-known/openid-configuration failed: could not be reached (TLS certificate not "
            "trusted: unable to get local issuer certificate; is its CA in --lua-ssl-trusted-certificate?)"
            ) in strict.proc.output()

    unverified = dataplane(document(echo_port, idp, ssl_verify=False))
    assert httpx.get(f"{unverified.url}/oidc", headers={"Authorization": f"Bearer {token}"},
                     timeout=30).status_code == 200
