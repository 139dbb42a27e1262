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


class CertificateSet:
    """Contexts by SNI name: exact names, `*.suffix` and `prefix.*` wildcards."""

    __slots__ = ("exact", "leading", "trailing")

    def __init__(self) -> None:
        self.exact: dict[str, ssl.SSLContext] = {}
        self.leading: dict[str, ssl.SSLContext] = {}  # "*.example.com" under "example.com"
        self.trailing: dict[str, ssl.SSLContext] = {}  # "example.*" under "example"

    def add(self, name: str, context: ssl.SSLContext) -> None:
        if name.startswith("*."):
            self.leading[name[2:]] = context
        elif name.endswith(".*"):
            self.trailing[name[:-2]] = context
        else:
            self.exact[name] = context

    def select(self, server_name: str) -> ssl.SSLContext | None:
        name = server_name.lower().rstrip(".")
        found = self.exact.get(name)
        if found is None and self.leading:
            found = self.leading.get(name.partition(".")[2])
        if found is None and self.trailing:
            found = self.trailing.get(name.rpartition(".")[0])
        return found

    def __len__(self) -> int:
        return len(self.exact) + len(self.leading) + len(self.trailing)


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
    """The listener context's callback: switch to the chosen certificate's context, else keep the default."""

    def choose(connection: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
        if server_name is None:
            return
        certificates = current()
        if certificates is not None:
            chosen = certificates.select(server_name)
            if chosen is not None:
                connection.context = chosen

    return choose
