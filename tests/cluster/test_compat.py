"""Kong's compatibility rules: which data planes may receive which config."""

from __future__ import annotations

import pytest

from oidcgate.cluster import compat
from oidcgate.cluster.protocol import SyncStatus


@pytest.mark.parametrize(("version", "expected"), [
    ("3.4", (3, 4)), ("3.4.1", (3, 4)), ("3.4.0.1-enterprise", (3, 4)), ("0.2.0rc1", (0, 2)),
    ("three", None), ("3", None), ("", None),
])
def test_major_minor(version: str, expected: tuple[int, int] | None) -> None:
    assert compat.major_minor(version) == expected


@pytest.mark.parametrize(("dp", "status"), [
    ("0.4.0", SyncStatus.NORMAL),  # same version
    ("0.4.9", SyncStatus.NORMAL),  # newer patch
    ("0.2.0", SyncStatus.NORMAL),  # older minor of the same major
    ("0.5.0", SyncStatus.KONG_VERSION_INCOMPATIBLE),  # newer minor
    ("1.4.0", SyncStatus.KONG_VERSION_INCOMPATIBLE),  # other major
    ("garbage", SyncStatus.KONG_VERSION_INCOMPATIBLE),
])
def test_version_rule(dp: str, status: SyncStatus) -> None:
    verdict, reason = compat.check_version("0.4.0", dp)
    assert verdict is status
    assert (reason is None) == (status is SyncStatus.NORMAL)


def test_version_reasons_name_the_versions() -> None:
    assert compat.check_version("3.4.0", "2.8.0")[1] == (
        "data plane major version 2 is different to control plane major version 3")
    assert compat.check_version("3.4.0", "3.5.0")[1] == (
        "data plane minor version 5 is newer than control plane minor version 4")


def test_own_version_must_parse() -> None:
    with pytest.raises(ValueError, match="control plane version"):
        compat.check_version("dev", "0.1.0")


def test_plugins_used_counts_enabled_plugins_only() -> None:
    doc = {"plugins": [{"name": "openid-connect"}, {"name": "acl", "enabled": False},
                       {"name": "correlation-id", "enabled": True}]}
    assert compat.plugins_used(doc) == {"openid-connect", "correlation-id"}
    assert compat.plugins_used({"_format_version": "3.0"}) == frozenset()


def test_plugin_rules() -> None:
    cp = {"openid-connect": "2.1.0", "correlation-id": "1.0.0"}
    assert compat.check_plugins({"openid-connect"}, {"openid-connect": "2.0.3"}, cp) == compat.COMPATIBLE
    assert compat.check_plugins(set(), {}, cp) == compat.COMPATIBLE
    status, reason = compat.check_plugins({"correlation-id"}, {"openid-connect": "2.1.0"}, cp)
    assert status is SyncStatus.PLUGIN_SET_INCOMPATIBLE
    assert reason == "plugin 'correlation-id' is configured but missing from the data plane"
    status, reason = compat.check_plugins({"openid-connect"}, {"openid-connect": "1.9.0"}, cp)
    assert status is SyncStatus.PLUGIN_VERSION_INCOMPATIBLE
    assert reason is not None and "1.9.0" in reason and "2.1.0" in reason


CA_ID = "6f1e9c1e-1a9b-4c43-9a55-0d1b1b5c0001"


def _tls_document(**service: object) -> dict[str, object]:
    return {"_format_version": "3.0",
            "certificates": [{"id": CA_ID, "cert": "PEM", "key": "PEM"}],
            "snis": [{"name": "a.test", "certificate": CA_ID}],
            "services": [{"name": "plain", "host": "a.test"}, {"name": "billing", "host": "b.test", **service}]}


def test_a_current_data_plane_gets_the_document_itself() -> None:
    doc = _tls_document(tls_verify=True)
    assert compat.for_data_plane(doc, (0, 2)) == (doc, compat.COMPATIBLE)
    assert compat.for_data_plane(doc, (0, 2))[0] is doc


def test_an_older_data_plane_gets_a_copy_without_what_has_no_effect_there() -> None:
    doc = _tls_document(tls_verify=False, tls_verify_depth=2, ca_certificates=[])
    copy, verdict = compat.for_data_plane(doc, (0, 1))
    assert verdict == compat.COMPATIBLE
    assert copy == {"_format_version": "3.0",
                    "services": [{"name": "plain", "host": "a.test"}, {"name": "billing", "host": "b.test"}]}
    assert doc == _tls_document(tls_verify=False, tls_verify_depth=2, ca_certificates=[])  # left as it was


@pytest.mark.parametrize(("doc", "path", "what"), [
    (_tls_document(tls_verify=True), "services[1].tls_verify", "upstream TLS verification and client certificates"),
    (_tls_document(client_certificate=CA_ID), "services[1].client_certificate", "upstream TLS verification"),
    ({"consumer_groups": [{"name": "gold"}]}, "consumer_groups[0]", "consumer groups and ACLs"),
    ({"plugins": [{"name": "rate-limiting", "consumer_group": CA_ID}]}, "plugins[0].consumer_group", "consumer groups"),
])
def test_an_older_data_plane_is_told_what_it_cannot_enforce(doc: dict[str, object], path: str, what: str) -> None:
    _, (status, reason) = compat.for_data_plane(doc, (0, 1))
    assert status is SyncStatus.KONG_VERSION_INCOMPATIBLE
    assert reason is not None and reason.startswith(f"{path}: data plane version 0.1 cannot enforce {what}")
    assert reason.endswith("(added in 0.2); upgrade it to 0.2 or newer")
