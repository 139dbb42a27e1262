"""The default certificate: what a TLS listener presents when no SNI matches (Kong's `default.crt`).

Generated into the prefix on first start, self-signed for `localhost`, one ECDSA and one RSA pair
so every client finds a key type it speaks; written through `private_files` (files 0600 in a 0700
directory). Later starts reuse the files and tighten a key found readable by others.
"""

from __future__ import annotations

from pathlib import Path

from oidcgate.cluster import certs
from oidcgate.private_files import tighten

COMMON_NAME = "localhost"
DAYS = 10 * 365
FILES: tuple[tuple[str, certs.KeyType], ...] = (("default-ecdsa", "ec"), ("default", "rsa"))


def ensure(prefix: Path) -> list[tuple[str, str]]:
    """The (certificate file, key file) pairs under <prefix>/ssl, generating those that are missing."""
    pairs = []
    for stem, key_type in FILES:
        cert, key = prefix / "ssl" / f"{stem}.crt", prefix / "ssl" / f"{stem}.key"
        if cert.is_file() and key.is_file():
            tighten(key)
        else:
            certs.generate(cert, key, days=DAYS, key_type=key_type, force=True, common_name=COMMON_NAME)
        pairs.append((str(cert), str(key)))
    return pairs
