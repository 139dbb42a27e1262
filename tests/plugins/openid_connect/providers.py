"""Real identity providers for the plugin's tests: the npm package oauth2-mock-server (a third-party
provider, through `mock_provider.mjs`) and the embedded `oidcgate idp`.

Node and the package are installed by `make test-deps`; when they are missing the tests fail with
that instruction instead of skipping, so CI cannot pass without the third-party provider.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from joserfc.jwk import Key

from oidcgate.plugins.openid_connect.client_auth import basic_authorization
from tests.support import forge
from tests.support.clock import Clock
from tests.support.processes import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[3]
MOCK_MODULE = ROOT / ".tools" / "node_modules" / "oauth2-mock-server" / "dist" / "index.mjs"
LAUNCHER = Path(__file__).with_name("mock_provider.mjs")
AUDIENCE = "api://mock"

# The mock's registered clients: id -> secret, granted scopes, extra claims in their tokens.
MOCK_CLIENTS: dict[str, dict[str, Any]] = {
    "svc": {"secret": "s3cr:et+1 ü", "scopes": ["orders:read", "orders:write"],
            "claims": {"groups": ["admins", "users"], "roles": ["ops"], "org": {"id": 7}}},
    "reader": {"secret": "reader-secret", "scopes": ["orders:read"], "claims": {"groups": ["users"]}},
    "web": {"secret": "web-secret", "scopes": ["openid"], "claims": {"groups": ["users"], "name": "Web User"}},
    "mallory": {"secret": "mallory-secret", "scopes": ["orders:read"],
                "claims": {"name": "Mallory\r\nX-Admin: true"}},
}


def require_node() -> str:
    node = shutil.which("node")
    if node is None or not MOCK_MODULE.exists():
        pytest.fail("the third-party provider needs Node.js and oauth2-mock-server: run `make test-deps` "
                    f"(node: {node or 'missing'}, package: {MOCK_MODULE} {'found' if MOCK_MODULE.exists() else 'missing'})")
    return node


@dataclass
class MockProvider:
    """oauth2-mock-server on a free loopback port, restartable on the same port with the same keys."""

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    tls: tuple[Path, Path] | None = None  # (key, certificate) PEM files: serve HTTPS

    @property
    def issuer(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def key_file(self) -> Path:
        return self.workdir / "mock-keys.json"

    def start(self) -> MockProvider:
        node = require_node()
        options: dict[str, Any] = {"module": str(MOCK_MODULE), "port": self.port, "keyFile": str(self.key_file),
                                   "audience": AUDIENCE, "clients": MOCK_CLIENTS}
        if self.tls:
            options["tls"] = {"key": str(self.tls[0]), "cert": str(self.tls[1])}
        log = open(self.workdir / f"mock-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen([node, str(LAUNCHER), json.dumps(options)], stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_port(self.port, timeout=20, proc=self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def counts(self) -> dict[str, int]:
        return dict(httpx.get(f"{self.issuer}/__counts", timeout=5).json())

    def grants(self) -> dict[str, int]:
        """Refresh grants (`refresh`, refused ones included) and revocations (`revoke`) so far."""
        return dict(httpx.get(f"{self.issuer}/__grants", timeout=5).json())

    def delay(self, ms: int) -> None:
        httpx.post(f"{self.issuer}/__delay", params={"ms": ms}, timeout=5).raise_for_status()

    @contextlib.contextmanager
    def following(self, clock: Clock) -> Iterator[None]:
        """Tokens minted in the block carry `clock`'s time, as it is when each is minted (a gateway on an
        injected clock would find tokens minted on real time already expired)."""
        def sync() -> None:
            httpx.post(f"{self.issuer}/__clock", params={"offset": int(clock.offset)}, timeout=5).raise_for_status()
        clock.listeners.append(sync)
        sync()
        try:
            yield
        finally:
            clock.listeners.remove(sync)
            httpx.post(f"{self.issuer}/__clock", params={"offset": 0}, timeout=5).raise_for_status()

    @contextlib.contextmanager
    def refusing_refresh(self) -> Iterator[None]:
        """Every refresh grant in the block is refused (400 invalid_grant), as for a revoked grant."""
        httpx.post(f"{self.issuer}/__refuse_refresh", params={"on": 1}, timeout=5).raise_for_status()
        try:
            yield
        finally:
            httpx.post(f"{self.issuer}/__refuse_refresh", params={"on": 0}, timeout=5).raise_for_status()

    @contextlib.contextmanager
    def issuing(self, access_token: str) -> Iterator[None]:
        """Every granted token response in the block carries `access_token` (a broken provider's)."""
        httpx.post(f"{self.issuer}/__access_token", json={"value": access_token}, timeout=5).raise_for_status()
        try:
            yield
        finally:
            httpx.post(f"{self.issuer}/__access_token", json={"value": None}, timeout=5).raise_for_status()

    def introspects(self, token: str, response: dict[str, Any]) -> None:
        """Make the introspection endpoint answer `response` for `token` (unregistered tokens are inactive)."""
        httpx.post(f"{self.issuer}/__introspection", json={"token": token, "response": response},
                   timeout=5).raise_for_status()

    def rotate(self) -> Key:
        """Add a signing key; returns its private JWK (the tests sign with it)."""
        kid = httpx.post(f"{self.issuer}/__rotate", timeout=10).json()["kid"]
        return self.signing_key(kid)

    def signing_key(self, kid: str | None = None) -> Key:
        keys = json.loads(self.key_file.read_text())["keys"]
        chosen = next(k for k in keys if kid is None or k["kid"] == kid)
        return forge.load_private(chosen)

    def token(self, client_id: str = "svc", scope: str = "orders:read") -> str:
        response = httpx.post(f"{self.issuer}/token", timeout=10,
                              data={"grant_type": "client_credentials", "scope": scope},
                              headers={"Authorization": basic_authorization(client_id,
                                                                            MOCK_CLIENTS[client_id]["secret"])})
        response.raise_for_status()
        return str(response.json()["access_token"])


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A key and self-signed certificate for 127.0.0.1 (PEM files), which no default trust store accepts."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .sign(key, hashes.SHA256()))
    key_path, cert_path = directory / "tls-key.pem", directory / "tls-cert.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path
