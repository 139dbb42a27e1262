"""May this data plane receive this config? Kong's rules (kong/clustering/compat), as pure functions.

- Gateway version: the data plane must have the control plane's major version and a minor version
  no newer than the control plane's (an older DP of the same major is fine: the CP takes out what an
  older minor cannot read, below; a newer one may expect things this CP does not send).
- Plugins: every plugin enabled in the config must exist on the data plane with the same major
  version as on the control plane.
- Older data planes (`downgrade`, Kong's `update_compatible_payload`): what they cannot load is taken out
  of the copy they get, each kind of removal logged once as a warning (Kong's `removed_fields` and
  checkers, in one table, `REMOVED`): entity kinds, entity fields, plugin config fields, and plugins
  scoped to a consumer group, removed whole as Kong does (dropping only the scope would apply them to
  everyone). Unlike Kong, a field whose removal would let through what the config refuses (a guard:
  openid-connect's `claims_forbidden`, a service's `tls_verify`) is not removed: a config that sets one
  is not sent to such a data plane (naming the field), which keeps its last config.
The first rule is checked once per connection, the others on every push, since they depend on the config.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from oidcgate.cluster.protocol import SyncStatus

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)(?:\.\d+)*[0-9A-Za-z.+-]*$")

Verdict = tuple[SyncStatus, str | None]  # (status, why not compatible)
COMPATIBLE: Verdict = (SyncStatus.NORMAL, None)


def major_minor(version: str) -> tuple[int, int] | None:
    """(major, minor) of "3.4", "3.4.1", "3.4.0.1-enterprise", "0.2.0rc1"; None if unparseable."""
    match = _VERSION_RE.match(version.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def check_version(cp_version: str, dp_version: str) -> Verdict:
    cp, dp = major_minor(cp_version), major_minor(dp_version)
    if cp is None:
        raise ValueError(f"control plane version {cp_version!r} is not MAJOR.MINOR[.PATCH]")
    if dp is None:
        return SyncStatus.KONG_VERSION_INCOMPATIBLE, f"data plane version {dp_version!r} cannot be parsed"
    if dp[0] != cp[0]:
        return (SyncStatus.KONG_VERSION_INCOMPATIBLE,
                f"data plane major version {dp[0]} is different to control plane major version {cp[0]}")
    if dp[1] > cp[1]:
        return (SyncStatus.KONG_VERSION_INCOMPATIBLE,
                f"data plane minor version {dp[1]} is newer than control plane minor version {cp[1]}")
    return COMPATIBLE


def plugins_used(config: Mapping[str, Any]) -> frozenset[str]:
    """Names of the plugins enabled in a declarative document."""
    plugins = config.get("plugins") or []
    return frozenset(p["name"] for p in plugins
                     if isinstance(p, dict) and isinstance(p.get("name"), str) and p.get("enabled", True))


def check_plugins(used: Iterable[str], dp_plugins: Mapping[str, str], cp_plugins: Mapping[str, str]) -> Verdict:
    for name in sorted(used):
        if name not in dp_plugins:
            return SyncStatus.PLUGIN_SET_INCOMPATIBLE, f"plugin '{name}' is configured but missing from the data plane"
        cp, dp = major_minor(cp_plugins.get(name, "")), major_minor(dp_plugins[name])
        if cp is not None and dp is not None and cp[0] != dp[0]:
            return (SyncStatus.PLUGIN_VERSION_INCOMPATIBLE,
                    f"plugin '{name}' is version {dp_plugins[name]} on the data plane and "
                    f"{cp_plugins[name]} on the control plane (major versions differ)")
    return COMPATIBLE


@dataclass(frozen=True)
class Removed:
    """What a data plane older than the version that brought it cannot load."""

    kinds: tuple[str, ...] = ()  # entity collections it does not know
    entity_fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # kind -> fields it does not know
    entity_guards: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # set: no config is sent
    plugin_fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # plugin -> config fields (a.b.c)
    guards: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # of those: set, no config is sent
    group_scoped_plugins: bool = False  # plugins scoped to a consumer group are removed whole


# By the (major, minor) version that brought them (issue 12: consumer groups, ACL credentials, the acl and
# rate-limiting plugins, openid-connect's mapping, introspection and cluster cache fields).
# Issue 14: TLS certificates (presented by TLS listeners, which older data planes do not have) and
# upstream TLS settings; `tls_verify_depth` is not enforced anywhere, the others would be ignored. A route's
# `snis`: 0.1 data planes read the field but match without it, so a route that sets it would take every
# request on its paths there (a guard: no config is sent).
REMOVED: dict[tuple[int, int], Removed] = {
    (0, 2): Removed(
        kinds=("acls", "consumer_group_consumers", "consumer_groups", "certificates", "snis", "ca_certificates"),
        entity_fields={"services": ("tls_verify_depth", "tls_verify", "ca_certificates", "client_certificate")},
        entity_guards={"services": ("tls_verify", "ca_certificates", "client_certificate"), "routes": ("snis",)},
        plugin_fields={"openid-connect": (
            "anonymous", "authenticated_groups_claim", "by_username_ignore_case", "claims_forbidden",
            "cluster_cache_redis", "cluster_cache_strategy", "consumer_groups_claim", "consumer_groups_optional",
            "credential_claim", "introspect_jwt_tokens", "introspection_check_active")},
        guards={"openid-connect": ("claims_forbidden", "consumer_groups_claim", "introspect_jwt_tokens")},
        group_scoped_plugins=True),
}


@dataclass(frozen=True)
class Downgraded:
    """The config a data plane gets, what was taken out of it (warnings), and whether it may get it at all."""

    config: Mapping[str, Any]
    warnings: tuple[str, ...] = ()
    verdict: Verdict = COMPATIBLE


def downgrade(config: Mapping[str, Any], dp_version: str, removed: Mapping[tuple[int, int], Removed] = REMOVED
              ) -> Downgraded:
    """What a data plane of `dp_version` (already accepted by check_version) can load: `config` itself when
    nothing applies, else a copy without what it does not know."""
    dp = major_minor(dp_version)
    rules = [(since, rule) for since, rule in sorted(removed.items()) if dp is not None and dp < since]
    if not rules:
        return Downgraded(config)
    for since, rule in rules:
        added = ".".join(map(str, since))
        for kind, names in rule.entity_guards.items():
            for index, entity in enumerate(config.get(kind) or ()):
                effective = [name for name in names if entity.get(name) not in (None, False, [])]
                if effective:
                    return Downgraded(config, verdict=(
                        SyncStatus.KONG_VERSION_INCOMPATIBLE,
                        f"{kind}[{index}].{effective[0]}: data plane version {dp_version} cannot enforce it "
                        f"(added in {added}); upgrade it to {added} or newer"))
        for plugin in config.get("plugins") or ():
            for name in rule.guards.get(plugin.get("name"), ()) if plugin.get("enabled", True) else ():
                if _at(plugin.get("config") or {}, name):
                    return Downgraded(config, verdict=(
                        SyncStatus.PLUGIN_VERSION_INCOMPATIBLE,
                        f"plugin '{plugin['name']}' sets '{name}', which data plane version {dp_version} would "
                        f"ignore and so let through what it refuses"))
    doc = copy.deepcopy(dict(config))
    warnings: list[str] = []
    for _, rule in rules:
        warnings += _apply(rule, doc, dp_version)
    return Downgraded(doc, tuple(warnings))


def _apply(rule: Removed, doc: dict[str, Any], dp_version: str) -> list[str]:
    warnings = []
    for kind in rule.kinds:
        if doc.pop(kind, None):
            warnings.append(f"'{kind}' are not known to data plane version {dp_version} and will be removed")
    for kind, names in rule.entity_fields.items():
        present = sorted({name for entity in doc.get(kind) or () for name in names if name in entity})
        for entity in doc.get(kind) or ():
            for name in present:
                entity.pop(name, None)
        warnings += [f"{kind} field '{name}' is not known to data plane version {dp_version} and will be removed"
                     for name in present]
    plugins = doc.get("plugins") or []
    if rule.group_scoped_plugins and any(p.get("consumer_group") for p in plugins):
        plugins[:] = [p for p in plugins if not p.get("consumer_group")]
        warnings.append(f"plugins scoped to a consumer group are not known to data plane version {dp_version}: "
                        "each such plugin will be removed whole")
    reported: set[tuple[str, str]] = set()
    for plugin in plugins:
        name = plugin.get("name")
        for path in rule.plugin_fields.get(name, ()):
            if _delete(plugin.get("config") or {}, path) and (name, path) not in reported:
                reported.add((name, path))
                warnings.append(f"{name} plugin contains configuration '{path}' which is incompatible with data "
                                f"plane version {dp_version} and will be ignored")
    return warnings


def _at(config: Mapping[str, Any], path: str) -> Any:
    value: Any = config
    for key in path.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _delete(config: dict[str, Any], path: str) -> bool:
    """Remove `a.b.c` from nested dicts; whether it was there."""
    *parents, last = path.split(".")
    for key in parents:
        config = config.get(key)  # type: ignore[assignment]
        if not isinstance(config, dict):
            return False
    return config.pop(last, _MISSING) is not _MISSING


_MISSING = object()


def installed_plugins() -> dict[str, str]:
    """Name -> version of every plugin this process can run (what a hello announces)."""
    from oidcgate.plugins import registry

    return {name: handler.VERSION for name, handler in registry.available().items()}
