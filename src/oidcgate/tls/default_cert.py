"""The default certificate: what a TLS listener presents when no SNI matches (Kong's `default.crt`).

Generated into the prefix on first start, self-signed for `localhost`, one ECDSA and one RSA pair
so every client finds a key type it speaks; keys are written 0600. Later starts reuse the files.
"""

from __future__ import annotations

from pathlib import Path

from oidcgate.cluster import certs

COMMON_NAME = "localhost"
DAYS = 10 * 365
FILES = (("default-ecdsa", "ec"), ("default", "rsa"))


def ensure(prefix: Path) -> list[tuple[str, str]]:
    """The (certificate file, key file) pairs under <prefix>/ssl, generating those that are missing."""
    pairs = []
    for stem, key_type in FILES:
        cert, key = prefix / "ssl" / f"{stem}.crt", prefix / "ssl" / f"{stem}.key"
        if not (cert.is_file() and key.is_file()):
            certs.generate(cert, key, days=DAYS, key_type=key_type, force=True,  # type: ignore[arg-type]
                           common_name=COMMON_NAME)
        pairs.append((str(cert), str(key)))
    return pairs
