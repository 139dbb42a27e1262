"""A TLS client for tests that need to choose the SNI, the TLS version and see the certificate presented."""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID


@dataclass
class TLSResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    peer_cn: str  # the common name of the certificate the server presented
    peer_serial: int
    alpn: str | None
    version: str | None


def context(ca: str | None = None, *, version: ssl.TLSVersion | None = None,
            client: tuple[str, str] | None = None) -> ssl.SSLContext:
    """Verifying against `ca` when given (host names included), else trusting anything."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca is None:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.load_verify_locations(cadata=ca)
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    ctx.set_alpn_protocols(["http/1.1"])
    if client is not None:
        ctx.load_cert_chain(*client)
    return ctx


def request(port: int, server_name: str | None, path: str = "/", *, ctx: ssl.SSLContext | None = None,
            host: str | None = None, method: str = "GET", timeout: float = 5.0) -> TLSResponse:
    """One request on a fresh TLS connection to 127.0.0.1:`port`, sending `server_name` as SNI."""
    ctx = ctx or context()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw, \
            ctx.wrap_socket(raw, server_hostname=server_name) as tls:
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        cert = x509.load_der_x509_certificate(der)
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        tls.sendall(f"{method} {path} HTTP/1.1\r\nHost: {host or server_name or '127.0.0.1'}\r\n"
                    "Connection: close\r\n\r\n".encode())
        response = http.client.HTTPResponse(tls)
        response.begin()
        body = response.read()
        return TLSResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, body,
                           str(names[0].value) if names else "", cert.serial_number, tls.selected_alpn_protocol(),
                           tls.version())


class Session:
    """One keep-alive TLS connection for several requests (to show that a connection survives)."""

    def __init__(self, port: int, server_name: str, ctx: ssl.SSLContext, timeout: float = 5.0) -> None:
        self.connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
        self.server_name = server_name
        self.connection.host = server_name  # SNI and Host: the name; the socket: 127.0.0.1
        self.connection._create_connection = (  # type: ignore[attr-defined]
            lambda address, *args, **kwargs: socket.create_connection(("127.0.0.1", port), *args, **kwargs))

    def get(self, path: str) -> int:
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        response.read()
        return response.status

    @property
    def sock(self) -> ssl.SSLSocket:
        return self.connection.sock  # type: ignore[return-value]

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.connection.close()
