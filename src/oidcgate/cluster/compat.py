"""May this data plane receive this config? Kong's rules (kong/clustering/compat), as pure functions.

- Gateway version: the data plane must have the control plane's major version and a minor version
  no newer than the control plane's (an older DP of the same major is fine: the CP never emits
  fields an older minor cannot read; a newer one may expect things this CP does not send).
- Plugins: every plugin enabled in the config must exist on the data plane with the same major
  version as on the control plane.
- Configuration added later (Kong's removed_fields and compat checkers): an older data plane gets a
  copy without what it could not load but what has no effect there; what it would load but not
  enforce (a setting that makes it stricter) means no configuration, and the reason says which path
  and which version it needs.
The first rule is checked once per connection, the others on every push, since they depend on the config.
"""

from __future__ import annotations

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


def installed_plugins() -> dict[str, str]:
    """Name -> version of every plugin this process can run (what a hello announces)."""
    from oidcgate.plugins import registry

    return {name: handler.VERSION for name, handler in registry.available().items()}


@dataclass(frozen=True)
class Addition:
    """Configuration a version added: whole collections and fields of other kinds' entities."""

    since: tuple[int, int]
    what: str
    removable: bool  # without effect on an older data plane: dropped from its copy; else refused
    kinds: tuple[str, ...] = ()
    fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


ADDITIONS: tuple[Addition, ...] = (
    # Certificates are presented by TLS listeners, which older data planes do not have.
    Addition((0, 2), "TLS certificates", True, kinds=("certificates", "snis", "ca_certificates")),
    Addition((0, 2), "tls_verify_depth", True, fields={"services": ("tls_verify_depth",)}),  # not enforced
    Addition((0, 2), "upstream TLS verification and client certificates", False,
             fields={"services": ("tls_verify", "ca_certificates", "client_certificate")}),
    Addition((0, 2), "consumer groups and ACLs", False,
             kinds=("consumer_groups", "consumer_group_consumers", "acls"), fields={"plugins": ("consumer_group",)}),
)


def for_data_plane(config: dict[str, Any], dp: tuple[int, int]) -> tuple[dict[str, Any], Verdict]:
    """The document a data plane of version `dp` (major, minor) can load, and whether it may have it.

    `config` itself when nothing in it is newer than the data plane; else a copy without the removable
    additions (and without empty or false values of the others, which ask for nothing); an effective
    value of an addition that is not removable gives a verdict naming its path instead.
    """
    copy: dict[str, Any] | None = None
    for addition in ADDITIONS:
        if dp >= addition.since:
            continue
        for kind in addition.kinds:
            if config.get(kind):
                if not addition.removable:
                    return config, _too_old(dp, addition, f"{kind}[0]")
                copy = copy or dict(config)
                del copy[kind]
        for kind, names in addition.fields.items():
            for index, entity in enumerate(config.get(kind) or ()):
                present = [name for name in names if name in entity]
                effective = [name for name in present if entity[name] not in (None, False, [])]
                if effective and not addition.removable:
                    return config, _too_old(dp, addition, f"{kind}[{index}].{effective[0]}")
                if present:
                    copy = copy or dict(config)
                    if copy[kind] is config[kind]:
                        copy[kind] = list(config[kind])
                    copy[kind][index] = {k: v for k, v in copy[kind][index].items() if k not in present}
    return (config if copy is None else copy), COMPATIBLE


def _too_old(dp: tuple[int, int], addition: Addition, path: str) -> Verdict:
    since = ".".join(map(str, addition.since))
    return (SyncStatus.KONG_VERSION_INCOMPATIBLE,
            f"{path}: data plane version {dp[0]}.{dp[1]} cannot enforce {addition.what} (added in {since}); "
            f"upgrade it to {since} or newer")
