"""TLS on the proxy: SNI selection (exact, wildcard, default), protocol versions, ALPN, X-Forwarded-*
for TLS, https-only routes answering plain HTTP, and certificates that the configuration changes."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.proxy.conftest import StartDP
from tests.proxy.helpers import DataPlane
from tests.support import tls_client
from tests.support.pki import CA, Issued
from tests.support.polling import wait_until
from tests.support.private import modes, private

pytestmark = pytest.mark.timeout(120)


class PKI:
    def __init__(self) -> None:
        self.ca = CA()
        self.a = self.ca.issue("a.test")
        self.b = self.ca.issue("b.test", kind="rsa")
        self.wild = self.ca.issue("*.wild.test")


def certificate(issued: Issued, *names: str, **extra: Any) -> dict[str, Any]:
    return {"cert": issued.cert, "key": issued.key, "snis": [{"name": n} for n in names], **extra}


def document(echo_port: int, pki: PKI) -> dict[str, Any]:
    return {
        "_format_version": "3.0",
        "certificates": [certificate(pki.a, "a.test"), certificate(pki.b, "b.test"),
                         certificate(pki.wild, "*.wild.test")],
        "services": [{"name": "echo", "url": f"http://127.0.0.1:{echo_port}", "routes": [
            {"name": "all", "paths": ["/"]},
            {"name": "secure", "paths": ["/secure"], "protocols": ["https"]},
            {"name": "moved", "paths": ["/moved"], "protocols": ["https"], "https_redirect_status_code": 308},
        ]}],
    }


@pytest.fixture(scope="module")
def pki() -> PKI:
    return PKI()


@pytest.fixture(scope="module")
def dp(module_dataplane: StartDP, echo_port: int, pki: PKI) -> Iterator[DataPlane]:
    yield module_dataplane(document(echo_port, pki), tls=True)


def tls_port(dp: DataPlane) -> int:
    assert dp.tls_port is not None
    return dp.tls_port


@pytest.mark.parametrize(("server_name", "common_name"), [
    ("a.test", "a.test"), ("b.test", "b.test"), ("A.Test", "a.test"), ("x.wild.test", "*.wild.test")])
def test_sni_picks_its_certificate(dp: DataPlane, pki: PKI, server_name: str, common_name: str) -> None:
    ctx = tls_client.context(pki.ca.cert)  # verifies the chain and the host name against the test CA
    response = tls_client.request(tls_port(dp), server_name, "/anything", ctx=ctx)
    assert response.peer_cn == common_name
    assert response.status == 200


@pytest.mark.parametrize("server_name", ["other.test", "deep.x.wild.test", None])
def test_default_certificate_when_no_sni_matches(dp: DataPlane, server_name: str | None) -> None:
    response = tls_client.request(tls_port(dp), server_name, "/anything")
    assert response.peer_cn == "localhost"
    assert response.status == 200


def test_default_certificate_generated_into_the_prefix_with_private_keys(dp: DataPlane) -> None:
    folder = dp.prefix / "ssl"
    files = [folder / f"{stem}.{ext}" for stem in ("default", "default-ecdsa") for ext in ("crt", "key")]
    assert modes(folder, *files) == private((folder,), tuple(files))


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_12_and_13_with_alpn_http11(dp: DataPlane, version: ssl.TLSVersion) -> None:
    response = tls_client.request(tls_port(dp), "a.test", "/anything", ctx=tls_client.context(version=version))
    assert response.version == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
    assert response.alpn == "http/1.1"


def test_tls_11_refused_by_the_server(dp: DataPlane) -> None:
    ctx = tls_client.context(version=ssl.TLSVersion.TLSv1_1)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client offer it, so the refusal is the server's
    with pytest.raises(ssl.SSLError) as refused:
        tls_client.request(tls_port(dp), "a.test", ctx=ctx)
    # the server answers with an alert or hangs up; NO_PROTOCOLS_AVAILABLE would be the client's own refusal
    assert refused.value.reason in ("TLSV1_ALERT_PROTOCOL_VERSION", "UNEXPECTED_EOF_WHILE_READING")


def test_forwarded_proto_and_port_over_tls(dp: DataPlane) -> None:
    response = tls_client.request(tls_port(dp), "a.test", "/anything")
    headers = json.loads(response.body)["headers"]
    assert headers["X-Forwarded-Proto"] == "https"
    assert headers["X-Forwarded-Port"] == str(tls_port(dp))
    plain = httpx.get(f"{dp.url}/anything", timeout=5).json()["headers"]
    assert (plain["X-Forwarded-Proto"], plain["X-Forwarded-Port"]) == ("http", str(dp.port))


def test_https_only_route_answers_plain_http_with_426(dp: DataPlane) -> None:
    response = httpx.get(f"{dp.url}/secure", timeout=5)
    assert response.status_code == 426
    assert "https" in response.json()["message"].lower()
    assert tls_client.request(tls_port(dp), "a.test", "/secure/anything").status == 200


def test_https_redirect_status_code_redirects_to_https(dp: DataPlane) -> None:
    response = httpx.get(f"{dp.url}/moved/x?y=1", headers={"Host": "a.test"}, timeout=5)
    assert response.status_code == 308
    assert response.headers["location"] == "https://a.test/moved/x?y=1"


def test_new_certificates_on_reload_without_dropping_connections(dataplane: StartDP, echo_port: int,
                                                                pki: PKI) -> None:
    doc = document(echo_port, pki)
    plane = dataplane(doc, tls=True)
    port = tls_port(plane)
    ctx = tls_client.context(pki.ca.cert)
    with tls_client.Session(port, "a.test", ctx) as kept:  # a keep-alive connection from before the reload
        assert kept.get("/anything") == 200
        before = kept.sock.getpeercert()
        rotated = pki.ca.issue("a.test", kind="rsa")
        doc["certificates"][0] = certificate(rotated, "a.test")
        plane.write_config(doc)
        wait_until(lambda: tls_client.request(port, "a.test", ctx=ctx).peer_serial == rotated.serial, 15, 0.1)
        assert kept.get("/anything") == 200  # the old connection still works, on its old certificate
        assert kept.sock.getpeercert() == before


def test_key_references_resolve_through_the_vault_prefix_and_are_checked_with_their_paths(
        dataplane: StartDP, echo_port: int, pki: PKI) -> None:
    """`key` and `key_alt` take `{vault://env/NAME}` (Kong's referenceable fields): the data plane reads
    <vault_env_prefix>NAME only, refuses what it cannot resolve or what does not match, never shows a key."""
    ecdsa_pair = pki.ca.issue("pair.test")
    rsa_pair = pki.ca.issue("pair.test", kind="rsa")
    plane = dataplane(None, admin=True, tls=True, env={
        "OIDCGATE_VAULT_EDGE_KEY": ecdsa_pair.key, "OIDCGATE_VAULT_EDGE_KEY_ALT": rsa_pair.key,
        "OIDCGATE_VAULT_WRONG_KEY": pki.b.key, "UNPREFIXED": ecdsa_pair.key})

    def post(key: str, key_alt: str = "{vault://env/edge-key-alt}") -> httpx.Response:
        doc = {"_format_version": "3.0", "certificates": [
            certificate(ecdsa_pair, "pair.test", key=key, cert_alt=rsa_pair.cert, key_alt=key_alt)],
            "services": [{"name": "echo", "url": f"http://127.0.0.1:{echo_port}", "routes": [{"paths": ["/"]}]}]}
        return httpx.post(f"http://127.0.0.1:{plane.admin_port}/config", json=doc, timeout=10)

    assert post("{vault://env/edge-key}").status_code == 201
    for suite, expected in (("ECDHE-ECDSA-AES128-GCM-SHA256", ecdsa_pair), ("ECDHE-RSA-AES128-GCM-SHA256", rsa_pair)):
        ctx = tls_client.context(pki.ca.cert, version=ssl.TLSVersion.TLSv1_2)
        ctx.set_ciphers(suite)  # a TLS 1.2 suite chooses which key of the pair the server presents
        assert tls_client.request(tls_port(plane), "pair.test", "/anything", ctx=ctx).peer_serial == expected.serial

    unprefixed = post("{vault://env/unprefixed}")
    assert unprefixed.status_code == 400
    assert unprefixed.json()["flattened_errors"] == [{"path": "certificates[0].key", "message": (
        "vault reference: environment variable OIDCGATE_VAULT_UNPREFIXED is not set (the env vault reads "
        "OIDCGATE_VAULT_<NAME>)")}]
    mismatched = post("{vault://env/edge-key}", "{vault://env/wrong-key}")
    assert mismatched.status_code == 400
    assert mismatched.json()["flattened_errors"] == [{"path": "certificates[0].key_alt",
                                                      "message": "certificate does not match key"}]
    # the refusals left the resolved pair in place
    assert tls_client.request(tls_port(plane), "pair.test", "/anything", ctx=ctx).peer_serial == rsa_pair.serial
    for secret in (ecdsa_pair.key, rsa_pair.key, pki.b.key):
        body = secret.splitlines()[1]
        assert body not in unprefixed.text + mismatched.text + plane.proc.output()


def test_a_route_limited_to_http_never_matches_over_tls(dataplane: StartDP, echo_port: int) -> None:
    """Kong's router requires `net.protocol == "http"` of such a route: over TLS another route may match,
    else 404; plain HTTP still reaches it (an https-only route keeps answering plain HTTP with 426)."""
    echo = f"http://127.0.0.1:{echo_port}"
    plane = dataplane({"_format_version": "3.0", "services": [
        {"name": "plain", "url": f"{echo}/anything/plain", "routes": [
            {"name": "plain-only", "paths": ["/api/v1"], "protocols": ["http"]},
            {"name": "alone", "paths": ["/alone"], "protocols": ["http"]}]},
        {"name": "tls", "url": f"{echo}/anything/tls", "routes": [
            {"name": "tls-fallback", "paths": ["/api"], "protocols": ["https"]}]}]}, tls=True)
    assert httpx.get(f"{plane.url}/api/v1/x", timeout=5).json()["url"] == f"{echo}/anything/plain/x"
    over_tls = tls_client.request(tls_port(plane), "a.test", "/api/v1/x")
    assert (over_tls.status, json.loads(over_tls.body)["url"]) == (200, f"{echo}/anything/tls/v1/x")
    assert httpx.get(f"{plane.url}/alone", timeout=5).status_code == 200
    missed = tls_client.request(tls_port(plane), "a.test", "/alone")
    assert (missed.status, json.loads(missed.body)) == (404, {"message": "no Route matched with those values"})
    assert httpx.get(f"{plane.url}/api/x", timeout=5).status_code == 426


def test_routes_by_the_server_name_the_client_indicated(dataplane: StartDP, echo_port: int) -> None:
    """Routes' `snis` (Kong's SNI rule): one path, a service per tenant name, exact or wildcard; a
    handshake without a name, or another name, gets the route without `snis`; plain HTTP never
    matches a route with `snis` (no handshake, no name: 404, not the https redirect)."""
    echo = f"http://127.0.0.1:{echo_port}/anything"
    plane = dataplane({"_format_version": "3.0", "services": [
        {"name": "tenant-a", "url": f"{echo}/a", "routes": [
            {"name": "a", "paths": ["/api"], "snis": ["a.test"], "protocols": ["https"]}]},
        {"name": "tenant-wild", "url": f"{echo}/wild", "routes": [
            {"name": "wild", "paths": ["/api"], "snis": ["*.wild.test", "b.test"], "protocols": ["https"]}]},
        {"name": "sni-only", "url": f"{echo}/only", "routes": [
            {"name": "only", "snis": ["only.test"], "protocols": ["https"]}]},
        {"name": "shared", "url": f"{echo}/shared", "routes": [{"name": "shared", "paths": ["/api"]}]}]},
        tls=True)

    def upstream_url(server_name: str | None, path: str = "/api/x") -> str:
        response = tls_client.request(tls_port(plane), server_name, path, host="gateway.test")
        assert response.status == 200, response.body
        return str(json.loads(response.body)["url"])

    assert upstream_url("a.test") == f"{echo}/a/x"
    assert upstream_url("A.TEST") == f"{echo}/a/x"  # (names compare case-insensitively)
    assert upstream_url("x.wild.test") == f"{echo}/wild/x"
    assert upstream_url("b.test") == f"{echo}/wild/x"
    assert upstream_url("deep.x.wild.test") == f"{echo}/shared/x"  # (a wildcard stands for one label)
    assert upstream_url("c.test") == f"{echo}/shared/x"
    assert upstream_url(None) == f"{echo}/shared/x"
    assert upstream_url("only.test", "/anything/else") == f"{echo}/only/anything/else"
    # Over plain HTTP only the route without `snis` can match, whatever the Host says.
    plain = httpx.get(f"{plane.url}/api/x", headers={"Host": "a.test"}, timeout=5)
    assert plain.json()["url"] == f"{echo}/shared/x"
    missed = httpx.get(f"{plane.url}/anything/else", headers={"Host": "only.test"}, timeout=5)
    assert (missed.status_code, missed.json()) == (404, {"message": "no Route matched with those values"})
