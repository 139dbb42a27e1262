"""TLS entities in kong.yml: nested SNIs, references, and unusable PEMs refused on their path."""

from __future__ import annotations

from typing import Any

import pytest

from oidcgate.config import ConfigError, load
from oidcgate.plugins.registry import config_schema
from tests.support.pki import CA


@pytest.fixture(scope="module")
def ca() -> CA:
    return CA()


def errors(doc: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as refused:
        load(doc, config_schema)
    return {e.path: e.message for e in refused.value.errors}


def test_certificates_with_nested_snis_load_flat(ca: CA) -> None:
    issued = ca.issue("a.test")
    snapshot = load({"_format_version": "3.0", "certificates": [
        {"cert": issued.cert, "key": issued.key, "snis": [{"name": "A.test"}, {"name": "*.b.test"}]}]}, config_schema)
    assert [s.name for s in snapshot.snis] == ["a.test", "*.b.test"]
    assert {s.certificate for s in snapshot.snis} == {snapshot.certificates[0].id}
    assert load(snapshot.to_declarative(), config_schema).hash == snapshot.hash


def test_mismatched_key_and_bad_pem_refused_with_their_paths(ca: CA) -> None:
    one, other = ca.issue("a.test"), ca.issue("b.test")
    found = errors({"_format_version": "3.0", "certificates": [
        {"cert": one.cert, "key": other.key},
        {"cert": "garbage", "key": one.key},
    ]})
    assert found["certificates[0].key"] == "certificate does not match key"
    assert found["certificates[1].cert"].startswith("invalid certificate")
    assert other.key not in str(found)


def test_references_between_tls_entities_are_checked(ca: CA) -> None:
    found = errors({"_format_version": "3.0",
                    "snis": [{"name": "a.test", "certificate": {"id": "6f1e9c1e-1a9b-4c43-9a55-0d1b1b5c0001"}}],
                    "services": [{"name": "s", "url": "https://u.test",
                                  "ca_certificates": ["6f1e9c1e-1a9b-4c43-9a55-0d1b1b5c0002"]}]})
    assert "no certificate" in found["snis[0].certificate"]
    assert "no ca_certificate" in found["services[0].ca_certificates[0]"]


@pytest.mark.parametrize("name", ["a.*.test", "*.*.test", "a.test:443", "127.0.0.1", "bad_label-.test"])
def test_invalid_sni_names(ca: CA, name: str) -> None:
    issued = ca.issue("a.test")
    found = errors({"_format_version": "3.0", "certificates": [
        {"cert": issued.cert, "key": issued.key, "snis": [{"name": name}]}]})
    assert "invalid SNI" in found["certificates[0].snis[0].name"]
