"""TLS contexts for the cluster link: mutual TLS pinned to the shared cluster certificate.

Both sides load the shared certificate as their only trust anchor (Kong's shared mode), so a peer
without the matching private key fails the TLS handshake itself; nothing reaches the WebSocket
layer. VERIFY_X509_PARTIAL_CHAIN lets OpenSSL trust the self-signed, non-CA leaf directly.
"""

from __future__ import annotations

import ssl


class ClusterCertificateError(ValueError):
    """The cluster certificate or key cannot be loaded (missing file, bad PEM, key does not match)."""


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """The control plane's context: requires a client certificate equal to the shared one."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.verify_mode = ssl.CERT_REQUIRED
    return _pin(context, cert_file, key_file)


def client_context(cert_file: str, key_file: str, server_name: str | None = None) -> ssl.SSLContext:
    """The data plane's context: presents the shared certificate and accepts only that one from the CP.

    The host name is checked only when `server_name` is given (Kong's `cluster_server_name`): in shared
    mode the pinned certificate already identifies the control plane wherever it runs.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = server_name is not None
    return _pin(context, cert_file, key_file)


def _pin(context: ssl.SSLContext, cert_file: str, key_file: str) -> ssl.SSLContext:
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    try:
        context.load_cert_chain(cert_file, key_file)
        context.load_verify_locations(cafile=cert_file)
    except ssl.SSLError as exc:  # before OSError: SSLError is one
        raise ClusterCertificateError(
            f"invalid cluster certificate {cert_file} or key {key_file}: {exc.reason or exc}") from None
    except OSError as exc:
        raise ClusterCertificateError(f"cannot read {exc.filename or cert_file}: {exc.strerror}") from None
    return context
