"""PEM certificates and keys, checked with `cryptography`: parse, match a key to its certificate, describe.

Messages follow Kong's (`invalid certificate: ...`, `certificate does not match key`) so a
refused write reads the same; they never contain the key itself.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID

MAX_PEM = 64 * 1024  # a chain of a few certificates fits easily; anything larger is not a certificate


def load_chain(pem: str) -> list[x509.Certificate]:
    """The certificates of a PEM (a leaf, then its intermediates); ValueError says why it is unusable."""
    if len(pem) > MAX_PEM:
        raise ValueError(f"invalid certificate: larger than {MAX_PEM} bytes")
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise ValueError("invalid certificate: no PEM 'BEGIN CERTIFICATE' block")
    try:
        chain = x509.load_pem_x509_certificates(pem.encode())
    except (ValueError, UnicodeEncodeError) as exc:
        raise ValueError(f"invalid certificate: {_reason(exc)}") from None
    return chain


def load_certificate(pem: str) -> x509.Certificate:
    return load_chain(pem)[0]


def load_key(pem: str) -> PrivateKeyTypes:
    """An unencrypted PEM private key; the message never echoes the input."""
    if len(pem) > MAX_PEM:
        raise ValueError(f"invalid key: larger than {MAX_PEM} bytes")
    try:
        return serialization.load_pem_private_key(pem.encode(), password=None)
    except TypeError:
        raise ValueError("invalid key: encrypted keys are not supported (remove the passphrase)") from None
    except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"invalid key: {_reason(exc)}") from None


def check_pair(cert: x509.Certificate, key_pem: str, what: str = "certificate") -> None:
    """ValueError unless `key_pem` is the private key of `cert`."""
    key = load_key(key_pem)
    mine = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, mine) != \
            cert.public_key().public_bytes(serialization.Encoding.DER, mine):
        raise ValueError(f"{what} does not match key")


def key_type(cert: x509.Certificate) -> str:
    """"RSA", "ECDSA", "Ed25519", ...: what Kong calls the certificate's type."""
    public = cert.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        return "RSA"
    if isinstance(public, ec.EllipticCurvePublicKey):
        return "ECDSA"
    if isinstance(public, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(public, ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(public, dsa.DSAPublicKey):
        return "DSA"
    return type(public).__name__


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def expired(cert: x509.Certificate) -> bool:
    return cert.not_valid_after_utc < datetime.datetime.now(datetime.UTC)


def digest(cert: x509.Certificate) -> str:
    """Kong's `cert_digest`: SHA-256 of the DER certificate, hex."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


@dataclass(frozen=True, slots=True)
class Summary:
    """What an operator needs to see of a certificate (the GUI shows this, never a key)."""

    subject: str
    issuer: str
    sans: tuple[str, ...]
    not_after: datetime.datetime
    key_type: str

    @property
    def common_name(self) -> str | None:
        for part in self.subject.split(","):
            if part.startswith("CN="):
                return part[3:]
        return None


def summary(pem: str) -> Summary:
    cert = load_certificate(pem)
    return Summary(cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(), names(cert),
                   cert.not_valid_after_utc, key_type(cert))


def names(cert: x509.Certificate) -> tuple[str, ...]:
    """The DNS names and IP addresses a certificate is for (its SANs, else its common name)."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return tuple(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME))
    return (*sans.get_values_for_type(x509.DNSName), *(str(ip) for ip in sans.get_values_for_type(x509.IPAddress)))


def _reason(exc: Exception) -> str:
    text = str(exc).split("\n", 1)[0].strip()
    return text[:200] or type(exc).__name__
