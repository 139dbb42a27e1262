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
