"""The shared cluster certificate (Kong's `kong hybrid gen_cert`, `cluster_mtls = shared`).

Control plane and data planes present the same self-signed certificate and each side trusts exactly
that certificate, so only holders of its private key can join the cluster. Like Kong's: EC P-384 by
default, CA:FALSE (critical), extended key usage serverAuth + clientAuth, valid three years.
"""

from __future__ import annotations

import datetime
import secrets
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from oidcgate.private_files import write_private

COMMON_NAME = "oidcgate_clustering"
DEFAULT_DAYS = 3 * 365
KeyType = Literal["ec", "rsa"]


class CertificateExistsError(FileExistsError):
    """The target file is already there and overwriting was not asked for."""


def generate(cert_path: str | Path, key_path: str | Path, *, days: int = DEFAULT_DAYS,
             key_type: KeyType = "ec", force: bool = False, common_name: str = COMMON_NAME) -> None:
    """Write a new self-signed certificate (PEM) and its key (PEM PKCS#8), both 0600 in directories
    created 0700: the certificate is no secret, but only this node's user needs either."""
    if days < 1:
        raise ValueError("days must be at least 1")
    cert_path, key_path = Path(cert_path), Path(key_path)
    if not force:
        for path in (cert_path, key_path):
            if path.exists():
                raise CertificateExistsError(f"{path} already exists (use --force to overwrite)")
    cert_pem, key_pem = build(days=days, key_type=key_type, common_name=common_name)
    write_private(key_path, key_pem)
    write_private(cert_path, cert_pem)


def build(*, days: int = DEFAULT_DAYS, key_type: KeyType = "ec",
          common_name: str = COMMON_NAME) -> tuple[bytes, bytes]:
    """A fresh self-signed (certificate PEM, private key PEM) pair for `common_name`, nothing written."""
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if key_type == "ec":
        key = ec.generate_private_key(ec.SECP384R1())
    elif key_type == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    else:
        raise ValueError(f"unknown key type '{key_type}'; expected 'ec' or 'rsa'")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
        .not_valid_before(now - datetime.timedelta(minutes=5))  # tolerate small clock skew between nodes
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                              ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA384() if key_type == "ec" else hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem
