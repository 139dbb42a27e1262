"""`ssl.SSLContext`s built from PEM text: the server side (TLS 1.2 and 1.3, Mozilla's "intermediate"
ciphers, ALPN http/1.1) and the client side (upstreams, with their CA and client certificate).

`ssl` loads keys from files only; PEMs go through an anonymous in-memory file (memfd) so private
keys never touch a disk, and fall back to a private temporary directory where memfd is missing.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from oidcgate.private_files import write_private

# Mozilla's "intermediate" TLS 1.2 suites without DHE (Kong's default `ssl_cipher_suite`);
# TLS 1.3 suites are OpenSSL's, all of them modern AEADs.
CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
           "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")
ALPN = ["http/1.1"]


class TLSConfigError(ValueError):
    """A certificate or key that OpenSSL will not load (the message never contains the key)."""


def _modern(context: ssl.SSLContext) -> ssl.SSLContext:
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.set_ciphers(CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    return context


def _server() -> ssl.SSLContext:
    context = _modern(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    context.set_alpn_protocols(ALPN)
    return context


def server_context(pairs: Sequence[tuple[str, str]]) -> ssl.SSLContext:
    """A server context presenting every (certificate PEM, key PEM) pair (an RSA and an ECDSA one at most)."""
    context = _server()
    for cert, key in pairs:
        load_pair(context, cert, key)
    return context


def server_context_pairs(files: Sequence[Sequence[str]]) -> ssl.SSLContext:
    """The same settings for certificates in files ((cert, key) pairs: `--ssl-cert`, `--admin-ssl-cert`, ...)."""
    context = _server()
    for cert_file, key_file in files:
        try:
            context.load_cert_chain(cert_file, key_file)
        except ssl.SSLError as exc:  # before OSError: SSLError is one
            raise TLSConfigError(f"cannot load certificate {cert_file} with key {key_file}: "
                                 f"{exc.reason or 'invalid PEM'}") from None
        except OSError as exc:
            raise TLSConfigError(f"cannot read {exc.filename or cert_file}: {exc.strerror}") from None
    return context


def client_context(*, verify: bool, ca_pems: Sequence[str] = (), client: tuple[str, str] | None = None,
                   check_hostname: bool = True) -> ssl.SSLContext:
    """An upstream context: verification against `ca_pems` (or the system store), a client certificate."""
    context = _modern(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    context.set_alpn_protocols(ALPN)
    if verify:
        context.check_hostname = check_hostname
        if ca_pems:
            context.load_verify_locations(cadata="\n".join(ca_pems))
        else:
            context.load_default_certs()
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client is not None:
        load_pair(context, *client)
    return context


def load_pair(context: ssl.SSLContext, cert: str, key: str) -> None:
    with _pem_file(cert) as cert_path, _pem_file(key) as key_path:
        try:
            context.load_cert_chain(cert_path, key_path)
        except ssl.SSLError as exc:
            raise TLSConfigError(f"cannot load certificate and key: {exc.reason or 'invalid PEM'}") from None


@contextlib.contextmanager
def _pem_file(text: str) -> Iterator[str]:
    data = text.encode()
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("oidcgate-pem", os.MFD_CLOEXEC)
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory() as directory:  # 0700: only we can read the key meanwhile
        path = Path(directory) / "pem"
        write_private(path, data)
        yield str(path)
