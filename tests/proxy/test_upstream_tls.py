"""TLS to upstreams with Kong's service fields: `tls_verify` against `ca_certificates` (failing closed
on a wrong CA), `client_certificate` for mutual TLS (its key a vault reference the data plane resolves),
and pool keys that keep TLS settings apart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.proxy.conftest import StartDP
from tests.support.pki import CA
from tests.support.tls_upstream import https_upstream

pytestmark = pytest.mark.timeout(120)

RIGHT_CA_ID = "6f1e9c1e-1a9b-4c43-9a55-0d1b1b5c0001"
WRONG_CA_ID = "6f1e9c1e-1a9b-4c43-9a55-0d1b1b5c0002"
CLIENT_ID = "6f1e9c1e-1a9b-4c43-9a55-0d1b1b5c0003"
CLIENT_KEY_REFERENCE = "{vault://env/upstream-client-key}"  # reads OIDCGATE_VAULT_UPSTREAM_CLIENT_KEY


class Upstreams:
    def __init__(self, directory: Path) -> None:
        self.ca, self.wrong_ca, self.client_ca = CA("upstream CA"), CA("some other CA"), CA("client CA")
        self.client = self.client_ca.issue("gateway.test", client=True)
        self.directory = directory


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Upstreams:
    return Upstreams(tmp_path_factory.mktemp("upstreams"))


@pytest.fixture(scope="module")
def ports(upstreams: Upstreams) -> Iterator[tuple[int, int]]:
    server = upstreams.ca.issue("127.0.0.1")
    with https_upstream(server, upstreams.directory) as plain, \
            https_upstream(server, upstreams.directory, client_ca=upstreams.client_ca.cert) as mutual:
        yield plain, mutual


def document(upstreams: Upstreams, port: int, mutual_port: int) -> dict[str, Any]:
    def service(name: str, target: int, **tls: Any) -> dict[str, Any]:
        return {"name": name, "url": f"https://127.0.0.1:{target}", **tls,
                "routes": [{"name": name, "paths": [f"/{name}"]}]}

    return {
        "_format_version": "3.0",
        "ca_certificates": [{"id": RIGHT_CA_ID, "cert": upstreams.ca.cert},
                            {"id": WRONG_CA_ID, "cert": upstreams.wrong_ca.cert}],
        "certificates": [{"id": CLIENT_ID, "cert": upstreams.client.cert, "key": CLIENT_KEY_REFERENCE}],
        "services": [
            service("unverified", port),
            service("verified", port, tls_verify=True, ca_certificates=[RIGHT_CA_ID]),
            service("wrong-ca", port, tls_verify=True, ca_certificates=[WRONG_CA_ID]),
            service("mtls", mutual_port, tls_verify=True, ca_certificates=[RIGHT_CA_ID],
                    client_certificate={"id": CLIENT_ID}),
            service("no-client-cert", mutual_port, tls_verify=True, ca_certificates=[RIGHT_CA_ID]),
        ],
    }


@pytest.fixture(scope="module")
def url(module_dataplane: StartDP, upstreams: Upstreams, ports: tuple[int, int]) -> str:
    return module_dataplane(document(upstreams, *ports),
                            env={"OIDCGATE_VAULT_UPSTREAM_CLIENT_KEY": upstreams.client.key}).url


def test_verified_against_its_ca(url: str) -> None:
    response = httpx.get(f"{url}/verified/x", timeout=10)
    assert response.status_code == 200
    assert response.json()["path"] == "/x"


def test_not_verified_unless_asked(url: str) -> None:
    assert httpx.get(f"{url}/unverified", timeout=10).status_code == 200


def test_verification_fails_closed_against_a_wrong_ca(url: str) -> None:
    assert httpx.get(f"{url}/unverified", timeout=10).status_code == 200  # a pooled connection exists now
    response = httpx.get(f"{url}/wrong-ca", timeout=10)
    assert response.status_code == 502  # never served over the unverified connection in the pool


def test_mutual_tls_presents_the_client_certificate(url: str) -> None:
    response = httpx.get(f"{url}/mtls", timeout=10)
    assert response.status_code == 200
    assert response.json()["client_cn"] == "gateway.test"


def test_mutual_tls_upstream_refuses_without_a_client_certificate(url: str) -> None:
    assert httpx.get(f"{url}/mtls", timeout=10).status_code == 200  # a pooled mTLS connection exists now
    assert httpx.get(f"{url}/no-client-cert", timeout=10).status_code == 502
