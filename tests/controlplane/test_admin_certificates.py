"""Admin API for TLS entities on both databases: /certificates, /certificates/{id}/snis, /snis,
/ca_certificates with Kong's shapes and errors; unusable PEMs refused with their field."""

from __future__ import annotations

import httpx
import pytest

from tests.controlplane.conftest import created
from tests.support.pki import CA


@pytest.fixture(scope="module")
def ca() -> CA:
    return CA()


async def test_certificate_with_snis_nested_and_top_level(admin: httpx.AsyncClient, ca: CA) -> None:
    issued = ca.issue("a.test")
    certificate = await created(admin, "/certificates", cert=issued.cert, key=issued.key, tags=["edge"])
    assert certificate["cert_alt"] is None and certificate["tags"] == ["edge"]
    sni = await created(admin, f"/certificates/{certificate['id']}/snis", name="a.test")
    assert sni["certificate"] == {"id": certificate["id"]}
    assert (await admin.get("/snis/a.test")).json()["id"] == sni["id"]
    listed = (await admin.get(f"/certificates/{certificate['id']}/snis")).json()["data"]
    assert [s["name"] for s in listed] == ["a.test"]

    duplicate = await admin.post("/snis", json={"name": "a.test", "certificate": {"id": certificate["id"]}})
    assert duplicate.status_code == 409 and duplicate.json()["fields"] == {"name": "a.test"}

    deleted = await admin.delete(f"/certificates/{certificate['id']}")
    assert deleted.status_code == 204
    assert (await admin.get("/snis/a.test")).status_code == 404  # SNIs go with their certificate


async def test_key_that_does_not_match_is_refused_on_key(admin: httpx.AsyncClient, ca: CA) -> None:
    one, other = ca.issue("a.test"), ca.issue("b.test")
    response = await admin.post("/certificates", json={"cert": one.cert, "key": other.key})
    assert response.status_code == 400
    body = response.json()
    assert body["name"] == "schema violation"
    assert body["fields"] == {"key": "certificate does not match key"}
    assert other.key not in response.text


@pytest.mark.parametrize(("field", "value", "message"), [
    ("cert", "not a certificate", "invalid certificate: no PEM 'BEGIN CERTIFICATE' block"),
    ("cert", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "invalid certificate:"),
    ("key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "invalid key:"),
])
async def test_unparsable_pem_refused_with_its_field(admin: httpx.AsyncClient, ca: CA, field: str, value: str,
                                                     message: str) -> None:
    issued = ca.issue("a.test")
    body = {"cert": issued.cert, "key": issued.key, field: value}
    response = await admin.post("/certificates", json=body)
    assert response.status_code == 400
    assert response.json()["fields"][field].startswith(message)


async def test_alternative_certificate_must_be_the_other_key_type(admin: httpx.AsyncClient, ca: CA) -> None:
    ec, rsa, ec2 = ca.issue("a.test"), ca.issue("a.test", kind="rsa"), ca.issue("a.test")
    ok = await admin.post("/certificates", json={"cert": ec.cert, "key": ec.key, "cert_alt": rsa.cert,
                                                 "key_alt": rsa.key})
    assert ok.status_code == 201, ok.text
    same = await admin.post("/certificates", json={"cert": ec.cert, "key": ec.key, "cert_alt": ec2.cert,
                                                   "key_alt": ec2.key})
    assert same.status_code == 400 and "different type" in same.json()["fields"]["cert_alt"]
    half = await admin.post("/certificates", json={"cert": ec.cert, "key": ec.key, "cert_alt": rsa.cert})
    assert half.status_code == 400 and "cert_alt" in half.text


async def test_key_may_be_a_vault_reference(admin: httpx.AsyncClient, ca: CA) -> None:
    issued = ca.issue("a.test")
    certificate = await created(admin, "/certificates", cert=issued.cert, key="{vault://env/edge-key}")
    assert certificate["key"] == "{vault://env/edge-key}"
    bad = await admin.post("/certificates", json={"cert": issued.cert, "key": "{vault://nope/x}"})
    assert bad.status_code == 400 and "unknown vault" in bad.json()["fields"]["key"]


async def test_ca_certificates_and_services_that_use_them(admin: httpx.AsyncClient, ca: CA) -> None:
    stored = await created(admin, "/ca_certificates", cert=ca.cert)
    assert len(stored["cert_digest"]) == 64
    again = await admin.post("/ca_certificates", json={"cert": ca.cert})
    assert again.status_code == 409
    leaf = await admin.post("/ca_certificates", json={"cert": ca.issue("a.test").cert})
    assert leaf.status_code == 400 and 'missing the "CA" basic constraint' in leaf.json()["fields"]["cert"]

    client = ca.issue("gateway.test", client=True)
    certificate = await created(admin, "/certificates", cert=client.cert, key=client.key)
    service = await created(admin, "/services", name="secure", url="https://upstream.test",
                            tls_verify=True, tls_verify_depth=2, ca_certificates=[stored["id"]],
                            client_certificate={"id": certificate["id"]})
    assert service["client_certificate"] == {"id": certificate["id"]}
    assert service["ca_certificates"] == [stored["id"]]

    in_use = await admin.delete(f"/ca_certificates/{stored['id']}")
    assert in_use.status_code == 400 and in_use.json()["name"] == "foreign key violation"
    assert (await admin.delete(f"/certificates/{certificate['id']}")).status_code == 400

    missing = await admin.post("/services", json={"name": "bad", "url": "https://u.test",
                                                  "client_certificate": {"id": "6f1e9c1e-1a9b-4c43-9a55-0d1b1b5c0009"}})
    assert missing.status_code == 400 and missing.json()["name"] == "foreign key violation"
    plain = await admin.post("/services", json={"name": "plain", "url": "http://u.test", "tls_verify": True})
    assert plain.status_code == 400 and "'protocol' is 'https'" in plain.text


async def test_snis_shorthand_on_writes_and_responses(admin: httpx.AsyncClient, ca: CA) -> None:
    """Kong's certificates DAO: `snis` on POST/PATCH/PUT sets exactly those SNIs, every answer lists them
    sorted, and /certificates/{sni} names the certificate by one of them."""
    issued, other = ca.issue("a.test", "b.test"), ca.issue("c.test")
    certificate = await created(admin, "/certificates", cert=issued.cert, key=issued.key,
                                snis=["b.test", "A.Test"])
    assert certificate["snis"] == ["a.test", "b.test"]
    by_sni = (await admin.get("/certificates/b.test")).json()
    assert (by_sni["id"], by_sni["snis"]) == (certificate["id"], ["a.test", "b.test"])
    assert (await admin.get("/snis/a.test")).json()["certificate"] == {"id": certificate["id"]}
    nested = (await admin.get("/certificates/a.test/snis")).json()["data"]
    assert sorted(s["name"] for s in nested) == ["a.test", "b.test"]
    listed = (await admin.get("/certificates")).json()["data"]
    assert [c["snis"] for c in listed] == [["a.test", "b.test"]]

    patched = await admin.patch(f"/certificates/{certificate['id']}", json={"snis": ["b.test", "*.wild.test"]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["snis"] == ["*.wild.test", "b.test"]
    assert (await admin.get("/snis/a.test")).status_code == 404
    tagged = await admin.patch("/certificates/b.test", json={"tags": ["edge"]})  # no snis: they stay
    assert (tagged.json()["tags"], tagged.json()["snis"]) == (["edge"], ["*.wild.test", "b.test"])

    taken = await admin.post("/certificates", json={"cert": other.cert, "key": other.key, "snis": ["b.test"]})
    assert taken.status_code == 400
    assert taken.json()["fields"] == {
        "snis": f"b.test already associated with existing certificate '{certificate['id']}'"}
    duplicated = await admin.post("/certificates", json={"cert": other.cert, "key": other.key,
                                                          "snis": ["c.test", "C.TEST"]})
    assert duplicated.json()["fields"] == {"snis": "c.test is duplicated"}
    invalid = await admin.post("/certificates", json={"cert": other.cert, "key": other.key, "snis": ["c.test:443"]})
    assert invalid.json()["fields"] == {"snis": "invalid SNI 'c.test:443': must not have a port"}
    assert len((await admin.get("/certificates")).json()["data"]) == 1  # nothing of the refused writes stored

    put_new = await admin.put("/certificates/c.test", json={"cert": other.cert, "key": other.key})
    assert put_new.status_code == 200, put_new.text
    assert put_new.json()["snis"] == ["c.test"] and put_new.json()["id"] != certificate["id"]
    cleared = await admin.put("/certificates/c.test", json={"cert": other.cert, "key": other.key, "snis": None})
    assert (cleared.json()["id"], cleared.json()["snis"]) == (put_new.json()["id"], [])

    assert (await admin.get("/certificates/nowhere.test")).json() == {"message": "SNI not found"}
    assert (await admin.delete("/certificates/nowhere.test")).status_code == 404
    assert (await admin.delete("/certificates/b.test")).status_code == 204
    assert (await admin.get("/snis")).json()["data"] == []


async def test_snis_shorthand_in_a_form_body(admin: httpx.AsyncClient, ca: CA) -> None:
    issued = ca.issue("form.test")
    response = await admin.post("/certificates", data={"cert": issued.cert, "key": issued.key, "snis[]": "form.test"})
    assert response.status_code == 201, response.text
    assert response.json()["snis"] == ["form.test"]
    single = await admin.patch(f"/certificates/{response.json()['id']}", data={"snis": "www.form.test"})
    assert single.json()["snis"] == ["www.form.test"]
