"""Which certificate a TLS handshake gets: Kong's SNI order, exact name, then wildcard, then the default.

A `CertificateSet` is built once per configuration snapshot (one `SSLContext` per certificate);
the listener's context has an `sni_callback` that asks the current set and switches the
handshake to the chosen context. New connections see a new snapshot's certificates at once;
established ones keep theirs, so a reload drops nothing.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Sequence

from oidcgate.config.certificates import SNI, Certificate
from oidcgate.config.vault import EnvVault
from oidcgate.tls.contexts import server_context
from oidcgate.tls.names import NameTable

_INDICATED = "oidcgate_server_name"  # where the callback leaves the client's SNI on its SSLObject


class CertificateSet(NameTable[ssl.SSLContext]):
    """Contexts by SNI name (see tls.names: exact, then `*.suffix`, then `prefix.*`)."""

    __slots__ = ()


def build(certificates: Sequence[Certificate], snis: Sequence[SNI], vault: EnvVault) -> CertificateSet:
    """One context per certificate that an SNI uses; keys' vault references resolve here.

    Raises ConfigError (a reference that does not resolve, a resolved key that does not match its
    certificate): the snapshot is then refused and the running one stays.
    """
    contexts: dict[str, ssl.SSLContext] = {}
    used = {sni.certificate for sni in snis}
    for index, certificate in enumerate(certificates):
        if certificate.id in used:
            contexts[certificate.id] = server_context(certificate.pairs(vault, f"certificates[{index}]"))
    found = CertificateSet()
    for sni in snis:
        found.add(sni.name, contexts[sni.certificate])
    return found


def sni_callback(current: Callable[[], CertificateSet | None]) -> Callable[[ssl.SSLObject, str | None,
                                                                             ssl.SSLContext], None]:
    """The listener context's callback: switch to the chosen certificate's context, else keep the default.
    It also leaves the name on the connection, where `indicated_name` finds it once the handshake is done."""

    def choose(connection: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
        if server_name is None:
            return
        setattr(connection, _INDICATED, server_name.lower().rstrip("."))  # (for routes' `snis`)
        certificates = current()
        if certificates is not None:
            chosen = certificates.select(server_name)
            if chosen is not None:
                connection.context = chosen

    return choose


def indicated_name(ssl_object: ssl.SSLObject | None) -> str | None:
    """The server name the client indicated in its handshake (lower-case, no trailing dot), if any."""
    name: str | None = getattr(ssl_object, _INDICATED, None)
    return name
