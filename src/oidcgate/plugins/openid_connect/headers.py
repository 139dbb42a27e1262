"""Claims → upstream request headers (`upstream_headers_claims` / `upstream_headers_names`), free of I/O.

Encoding, so the upstream can rely on it:
- a string is sent as is; a number or boolean as JSON (`42`, `1.5`, `true`);
- an array of scalars as its members encoded that way, joined by `", "` (`admins, users`);
- an object, or an array holding objects or arrays, as compact JSON;
- a missing or null claim sends no header;
- text beyond ASCII goes out as its UTF-8 bytes (what Kong and nginx forward); the PDK, like the
  proxy, holds header values as latin-1 strings, one character per byte.

A value with a control character (CR, LF, NUL, TAB, DEL, ...) or longer than 4096 bytes is refused
(`UnsafeClaimValue`), never forwarded raw: it could split or smuggle headers.

Names: an `_` in a configured name is sent as `-`, so Kong's `Issuer_Header` arrives as
`Issuer-Header`, which is what Kong's walkthrough shows through httpbin. Sending the underscore would
make the header vanish behind nginx (`underscores_in_headers off` by default) and collide with the
`-` spelling in CGI/WSGI servers. Letter case is kept.

Whatever the client sent under a configured name is removed first, in any case and with `_` or `-`,
so a claim header cannot be forged by the client.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

MAX_VALUE_LENGTH = 4096
MEMO_SIZE = 1024  # lists of request header names remembered by may_be_forged
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UnsafeClaimValue(ValueError):
    """A claim cannot be sent as a header value without breaking the request."""


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def encode_claim(value: Any) -> str | None:
    """The header value for a claim, None when the claim is absent; raises UnsafeClaimValue."""
    if value is None:
        return None
    if isinstance(value, list) and not any(isinstance(item, list | dict) for item in value):
        encoded = ", ".join(_scalar(item) for item in value)
    elif isinstance(value, list | dict):
        encoded = orjson.dumps(value).decode()
    else:
        encoded = _scalar(value)
    if _CONTROL.search(encoded):
        raise UnsafeClaimValue("contains control characters")
    if not encoded.isascii():
        encoded = encoded.encode("utf-8").decode("latin-1")
    if len(encoded) > MAX_VALUE_LENGTH:
        raise UnsafeClaimValue(f"longer than {MAX_VALUE_LENGTH} bytes")
    return encoded


def fold(name: str) -> str:
    """The form under which servers may treat two header names as one (case and `_`/`-` folded)."""
    return name.lower().replace("_", "-")


class ClaimHeaders:
    """The configured claim → header pairs, compiled once per plugin instance."""

    __slots__ = ("_copy_re", "_folded", "_memo", "pairs")

    def __init__(self, claims: Sequence[str], names: Sequence[str]) -> None:
        self.pairs: tuple[tuple[str, str], ...] = tuple(
            (claim, name.replace("_", "-")) for claim, name in zip(claims, names, strict=True))
        self._folded = frozenset(fold(name).encode("latin-1") for name in names)
        alternatives = b"|".join(re.escape(name) for name in sorted(self._folded)) or b"(?!)"
        self._copy_re = re.compile(rb"(?i)_|(?:^|\n)(?:" + alternatives + rb")(?:\n|$)")
        self._memo: dict[bytes, bool] = {}

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def values(self, claims: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(header name, value) for each present claim; raises UnsafeClaimValue naming the claim."""
        out = []
        for claim, name in self.pairs:
            try:
                value = encode_claim(claims.get(claim))
            except UnsafeClaimValue as exc:
                raise UnsafeClaimValue(f"claim '{claim}' {exc}") from None
            if value is not None:
                out.append((name, value))
        return out

    def may_be_forged(self, fields: list[bytes]) -> bool:
        """Whether a request's fields (flat wire form) may hold a copy of a claim header: a name that is
        one, or any name with an `_` (left to `forged`, name by name). Clients repeat their header
        names, so the answer is remembered per list of names (a bounded memo)."""
        names = b"\n".join(fields[::4])
        found = self._memo.get(names)
        if found is None:
            found = self._copy_re.search(names) is not None
            if len(self._memo) < MEMO_SIZE:
                self._memo[names] = found
        return found

    def forged(self, names: Sequence[bytes]) -> list[str]:
        """Which of a request's header names (lower-case bytes) would pass for one of the claim headers."""
        folded = self._folded
        if b"".join(names).find(b"_") < 0:  # the usual request: one set test (find: see proxy.accesslog)
            return [] if folded.isdisjoint(names) else [name.decode("latin-1") for name in names if name in folded]
        return [name.decode("latin-1") for name in names if name.replace(b"_", b"-") in folded]
