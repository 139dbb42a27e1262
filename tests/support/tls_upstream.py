"""An HTTPS upstream for tests: answers JSON with the path and the client certificate's common name,
optionally requiring a client certificate signed by a given CA (mutual TLS)."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from tests.support.pki import Issued
from tests.support.threaded_http import serving


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        peer = self.connection.getpeercert()  # type: ignore[attr-defined]
        subject = dict(item[0] for item in peer["subject"]) if peer else {}
        body = json.dumps({"path": self.path, "client_cn": subject.get("commonName")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def https_upstream(server: Issued, directory: Path, client_ca: str | None = None) -> Iterator[int]:
    """Serve on a free loopback port until the block ends; yields the port."""
    cert, key = server.write(directory, f"upstream-{server.serial}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=client_ca)
    with serving(_Handler, lambda sock: context.wrap_socket(sock, server_side=True)) as port:
        yield port
