"""What plugins trust when they call identity providers over HTTPS: the public CAs, plus a private CA
bundle when one is set (Kong's `lua_ssl_trusted_certificate`; `oidcgate dp
--lua-ssl-trusted-certificate` or OIDCGATE_LUA_SSL_TRUSTED_CERTIFICATE)."""

from __future__ import annotations

import os
import ssl

import certifi

ENV = "OIDCGATE_LUA_SSL_TRUSTED_CERTIFICATE"


def provider_verify(verify: bool) -> ssl.SSLContext | bool:
    """httpx's `verify`: False when verification is off, else a context with the extra bundle, if any."""
    if not verify:
        return False
    context = ssl.create_default_context(cafile=certifi.where())
    bundle = os.environ.get(ENV)
    if bundle:
        context.load_verify_locations(cafile=bundle)
    return context
