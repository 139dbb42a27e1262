"""Kong's compatibility rules: which data planes may receive which config."""

from __future__ import annotations

import pytest

from oidcgate.cluster import compat
from oidcgate.cluster.protocol import SyncStatus
from oidcgate.config import load
from oidcgate.config.declarative import KINDS
from oidcgate.plugins import registry
from oidcgate.plugins.registry import config_schema


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


ISSUER = "http://127.0.0.1:9000/oauth2/default"


def snapshot_doc(**oidc: object) -> dict[str, object]:
    """A control plane's export (every default filled in) with everything issue 12 brought."""
    return load({"_format_version": "3.0",
                 "services": [{"name": "s", "url": "http://127.0.0.1:9", "routes": [{"name": "r", "paths": ["/"], "plugins": [
                     {"name": "openid-connect", "config": {"issuer": ISSUER, "authenticated_groups_claim": ["groups"],
                                                           **oidc}}]}]}],
                 "consumers": [{"username": "alice", "acls": [{"group": "staff"}], "groups": [{"name": "gold"}]}],
                 "consumer_groups": [{"name": "gold", "plugins": [
                     {"name": "rate-limiting", "config": {"minute": 2}}]}]}, config_schema).to_declarative()


def test_an_older_data_plane_gets_a_copy_without_what_it_does_not_know() -> None:
    doc = snapshot_doc(anonymous="guest")
    down = compat.downgrade(doc, "0.1.7")
    assert down.verdict == compat.COMPATIBLE and down.config is not doc
    assert set(down.config) == {"_format_version", "services", "routes", "consumers", "plugins"}
    (plugin,) = down.config["plugins"]  # the consumer group's rate limit went whole, not just its scope
    assert plugin["name"] == "openid-connect" and "consumer_group" not in plugin
    assert not set(compat.REMOVED[(0, 2)].plugin_fields["openid-connect"]) & set(plugin["config"])
    assert plugin["config"]["issuer"] == ISSUER and plugin["config"]["auth_methods"]  # the rest stays
    assert load(down.config, config_schema).plugins[0].config["anonymous"] is None  # loadable (here refilled with defaults)
    assert len(doc["plugins"]) == 2 and "consumer_groups" in doc  # the control plane's own is untouched
    assert down.warnings == (
        "'acls' are not known to data plane version 0.1.7 and will be removed",
        "'consumer_group_consumers' are not known to data plane version 0.1.7 and will be removed",
        "'consumer_groups' are not known to data plane version 0.1.7 and will be removed",
        "plugins scoped to a consumer group are not known to data plane version 0.1.7: each such plugin will be "
        "removed whole",
        *(f"openid-connect plugin contains configuration '{name}' which is incompatible with data plane version "
          f"0.1.7 and will be ignored" for name in compat.REMOVED[(0, 2)].plugin_fields["openid-connect"]))


@pytest.mark.parametrize("version", ["0.2.0", "0.2.9", "0.3.0"])
def test_this_version_and_newer_get_the_config_itself(version: str) -> None:
    doc = snapshot_doc()
    assert compat.downgrade(doc, version) == compat.Downgraded(doc)
    assert compat.downgrade(doc, version).config is doc


@pytest.mark.parametrize(("oidc", "field"), [
    ({"claims_forbidden": ["act"]}, "claims_forbidden"),
    ({"client_id": ["gw"], "client_secret": ["s"], "introspect_jwt_tokens": True}, "introspect_jwt_tokens"),
    ({"consumer_groups_claim": ["groups"]}, "consumer_groups_claim"),
])
def test_a_guard_a_data_plane_would_ignore_keeps_the_config_from_it(oidc: dict[str, object], field: str) -> None:
    down = compat.downgrade(snapshot_doc(**oidc), "0.1.0")
    assert down.verdict == (SyncStatus.PLUGIN_VERSION_INCOMPATIBLE,
                            f"plugin 'openid-connect' sets '{field}', which data plane version 0.1.0 would ignore "
                            "and so let through what it refuses")
    disabled = snapshot_doc(**oidc)
    disabled["plugins"][0]["enabled"] = False  # type: ignore[index]
    assert compat.downgrade(disabled, "0.1.0").verdict == compat.COMPATIBLE


def test_the_removed_table_names_real_kinds_and_fields() -> None:
    for rule in compat.REMOVED.values():
        assert set(rule.kinds) <= set(KINDS)
        for plugin, fields in rule.plugin_fields.items():
            assert {name.split(".")[0] for name in fields} <= set(registry.get(plugin).CONFIG.model_fields)
            assert set(rule.guards.get(plugin, ())) <= set(fields)


def test_nested_plugin_fields_are_removed_by_their_path() -> None:
    rules = {(0, 9): compat.Removed(plugin_fields={"openid-connect": ("redis.prefix", "nope.deeper")})}
    doc = snapshot_doc(redis={"prefix": "p"})
    down = compat.downgrade(doc, "0.8.0", rules)
    config = down.config["plugins"][0]["config"]
    assert "prefix" not in config["redis"] and config["redis"]["port"] == 6379
    assert down.warnings == ("openid-connect plugin contains configuration 'redis.prefix' which is incompatible "
                             "with data plane version 0.8.0 and will be ignored",)


CA_ID = "6f1e9c1e-1a9b-4c43-9a55-0d1b1b5c0001"


def _tls_document(**service: object) -> dict[str, object]:
    return {"_format_version": "3.0",
            "certificates": [{"id": CA_ID, "cert": "PEM", "key": "PEM"}],
            "snis": [{"name": "a.test", "certificate": CA_ID}],
            "services": [{"name": "plain", "host": "a.test"}, {"name": "billing", "host": "b.test", **service}]}


def test_a_current_data_plane_gets_tls_entities_as_they_are() -> None:
    doc = _tls_document(tls_verify=True)
    assert compat.downgrade(doc, "0.2.0").config is doc


def test_an_older_data_plane_gets_no_certificates_and_no_unenforced_tls_fields() -> None:
    doc = _tls_document(tls_verify=False, tls_verify_depth=2, ca_certificates=[])
    down = compat.downgrade(doc, "0.1.0")
    assert down.verdict == compat.COMPATIBLE
    assert down.config == {"_format_version": "3.0",
                           "services": [{"name": "plain", "host": "a.test"}, {"name": "billing", "host": "b.test"}]}
    assert any("'certificates'" in warning for warning in down.warnings)
    assert any("'tls_verify_depth'" in warning for warning in down.warnings)
    assert doc == _tls_document(tls_verify=False, tls_verify_depth=2, ca_certificates=[])  # left as it was


@pytest.mark.parametrize(("service", "path"), [({"tls_verify": True}, "services[1].tls_verify"),
                                               ({"client_certificate": CA_ID}, "services[1].client_certificate"),
                                               ({"ca_certificates": [CA_ID]}, "services[1].ca_certificates")])
def test_an_older_data_plane_gets_no_config_that_needs_upstream_tls(service: dict[str, object], path: str) -> None:
    status, reason = compat.downgrade(_tls_document(**service), "0.1.0").verdict
    assert status is SyncStatus.KONG_VERSION_INCOMPATIBLE
    assert reason == f"{path}: data plane version 0.1.0 cannot enforce it (added in 0.2); upgrade it to 0.2 or newer"


def test_an_older_data_plane_gets_no_config_with_routes_by_server_name() -> None:
    """0.1 data planes read a route's `snis` but do not match on it: such a route would take every request
    on its paths there, so they keep their last config; a route without `snis` is sent as it is."""
    doc = {"_format_version": "3.0", "services": [{"name": "a", "host": "a.test"}],
           "routes": [{"name": "all", "paths": ["/"], "snis": None, "service": "a"},
                      {"name": "tenant", "paths": ["/"], "snis": ["a.test"], "service": "a"}]}
    status, reason = compat.downgrade(doc, "0.1.0").verdict
    assert status is SyncStatus.KONG_VERSION_INCOMPATIBLE
    assert reason == "routes[1].snis: data plane version 0.1.0 cannot enforce it (added in 0.2); upgrade it to 0.2 or newer"
    doc["routes"].pop()  # type: ignore[attr-defined]
    assert compat.downgrade(doc, "0.1.0").verdict == compat.COMPATIBLE
