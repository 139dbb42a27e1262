"""Sealing what goes into a cookie: AES-256-GCM (authenticated encryption) under a key that HKDF-SHA256
derives from `session_secret` and a purpose (RFC 5869, https://www.rfc-editor.org/rfc/rfc5869).

One key per purpose ("session", "authorization", "session-id"), so a value sealed for one use never
opens as another; the cookie name is also the associated data. A sealed value is base64url (no
padding) of a 12-byte random nonce and the ciphertext with its 16-byte tag: a tampered value, or one
sealed with another secret, does not open (None), without telling which.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12
TAG_BYTES = 16
_SALT = b"oidcgate openid-connect session v1"


class Sealer:
    """Seal and open values for one purpose under one secret (keys derived once, per plugin instance)."""

    __slots__ = ("_aad", "_aead")

    def __init__(self, secret: str, purpose: str, associated: str = "") -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT,
                   info=purpose.encode()).derive(secret.encode())
        self._aead = AESGCM(key)
        self._aad = associated.encode()

    def seal(self, data: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, data, self._aad)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def open(self, text: str) -> bytes | None:
        """The data, or None for anything that was not sealed by this Sealer (tampered, other secret)."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) < NONCE_BYTES + TAG_BYTES:
            return None
        try:
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], self._aad)
        except InvalidTag:
            return None
