"""May this data plane receive this config? Kong's rules (kong/clustering/compat), as pure functions.

- Gateway version: the data plane must have the control plane's major version and a minor version
  no newer than the control plane's (an older DP of the same major is fine: the CP never emits
  fields an older minor cannot read; a newer one may expect things this CP does not send).
- Plugins: every plugin enabled in the config must exist on the data plane with the same major
  version as on the control plane.
The first rule is checked once per connection, the second on every push, since it depends on the config.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
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
