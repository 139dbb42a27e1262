"""Decompressing what came from elsewhere (a cluster frame, a sealed session record) within a bound, so
that a few bytes never expand into gigabytes, and a stream cut short is an error rather than less data."""

from __future__ import annotations

import zlib

ZLIB = zlib.MAX_WBITS  # the zlib container (RFC 1950)
GZIP = 16 + zlib.MAX_WBITS  # the gzip container (RFC 1952)


class InflateError(ValueError):
    """Not one whole compressed stream of `what` within the bound; the message says which."""


def inflate(data: bytes, limit: int, container: int = ZLIB, what: str = "zlib",
            allow_trailing: bool = False) -> bytes:
    """`data` decompressed: one whole stream that expands to at most `limit` bytes, with nothing after
    it unless `allow_trailing`."""
    inflater = zlib.decompressobj(container)
    try:
        out = inflater.decompress(data, limit)
    except zlib.error as exc:
        raise InflateError(f"not {what} data: {exc}") from None
    if inflater.unconsumed_tail:
        raise InflateError(f"larger than {limit} bytes once decompressed")
    if not inflater.eof:
        raise InflateError(f"truncated {what} data")
    if inflater.unused_data and not allow_trailing:
        raise InflateError(f"bytes after the end of the {what} data")
    return out
