"""Kong's pagination: `size` (1..1000, default 100) and an opaque `offset` token naming the last row seen.

Rows are ordered by primary key, so a token is simply that key, base64url-encoded: stable while
rows are added or removed between pages, and meaningless to clients (as in Kong).
"""

from __future__ import annotations

import base64
import binascii
import re

from oidcgate.controlplane.errors import InvalidOffset, InvalidSize

DEFAULT_SIZE = 100
MAX_SIZE = 1000
_KEY_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def encode_offset(last_key: str) -> str:
    return base64.urlsafe_b64encode(last_key.encode()).decode().rstrip("=")


def decode_offset(token: str) -> str:
    try:
        key = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise InvalidOffset(token, "bad base64 encoding") from None
    if not _KEY_RE.match(key):
        raise InvalidOffset(token, "bad base64 encoding")
    return key


def parse_size(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_SIZE
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_SIZE:
        raise InvalidSize(f"size must be an integer between 1 and {MAX_SIZE}")
    return size
