"""Names OpenID Connect fixes, shared by the openid-connect plugin and `oidcgate token decode`."""

from __future__ import annotations

DISCOVERY_SUFFIX = "/.well-known/openid-configuration"  # OpenID Connect Discovery 1.0 §4, after the issuer
