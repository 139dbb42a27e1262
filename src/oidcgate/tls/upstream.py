"""TLS to upstream services, Kong's way: `tls_verify` (off unless set), `ca_certificates` (the CAs to
trust instead of the system store) and `client_certificate` (mutual TLS). `tls_verify_depth` is stored but
not enforced: Python's `ssl` has no depth setting, and checking the verified chain after the handshake
needs `SSLObject.get_verified_chain()`, which arrives with Python 3.13 (this runs on 3.11).

One client context per distinct setting, built once per snapshot. Each setting also has a pool
key, so the keep-alive pool never hands a connection made with one setting to a service with
another (a verified service must not reuse an unverified connection).
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence

from oidcgate.config.certificates import CACertificate, Certificate
from oidcgate.config.entities import Service
from oidcgate.config.vault import EnvVault
from oidcgate.tls.contexts import client_context

PLAIN = ""  # the pool key of plain-HTTP connections


class UpstreamContexts:
    """The upstream client contexts of one snapshot, by TLS setting."""

    def __init__(self, certificates: Sequence[Certificate], ca_certificates: Sequence[CACertificate],
                 vault: EnvVault) -> None:
        self.certificates = {c.id: c for c in certificates}
        self.cas = {c.id: c.cert for c in ca_certificates}
        self.vault = vault
        self.built: dict[str, ssl.SSLContext] = {}

    def for_service(self, service: Service) -> tuple[ssl.SSLContext | None, str]:
        """(context, pool key) for a service; (None, PLAIN) for plain HTTP."""
        if service.protocol != "https":
            return None, PLAIN
        verify = bool(service.tls_verify)
        cas = tuple(service.ca_certificates or ()) if verify else ()
        client = service.client_certificate
        key = f"tls|{int(verify)}|{','.join(cas)}|{client or ''}"
        context = self.built.get(key)
        if context is None:
            context = self.built[key] = client_context(
                verify=verify, ca_pems=[self.cas[ca] for ca in cas], client=self._client_pair(client))
        return context, key

    def _client_pair(self, certificate_id: str | None) -> tuple[str, str] | None:
        if certificate_id is None:
            return None
        # The primary pair: a client presents one certificate (Kong's client_certificate uses `cert`/`key`).
        return self.certificates[certificate_id].pairs(self.vault, "client_certificate")[0]
