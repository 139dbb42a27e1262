"""Header fields in wire form, checked once: what the PDK's headers and Kong's consumer headers are built of."""

from __future__ import annotations

import re

_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 field-name
_MEMO_MAX = 4096
_names: dict[str, bytes] = {}  # valid header names as plugins spell them -> their wire form


def encode_field(name: str, value: str) -> tuple[bytes, bytes, bytes, bytes]:
    """A header field in wire form; ValueError for a name that is not a token or a value with CR, LF or NUL
    (which would split the header block), UnicodeEncodeError for a character beyond latin-1."""
    wire = _names.get(name)
    if wire is None:
        if not _TOKEN_RE.fullmatch(name):
            raise ValueError(f"invalid header name {name!r}")
        wire = name.encode("ascii")
        if len(_names) < _MEMO_MAX:
            _names[name] = wire
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(f"the value of header {name!r} contains CR, LF or NUL")
    return wire, b": ", value.encode("latin-1"), b"\r\n"
