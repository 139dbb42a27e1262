"""Bounded decompression: one whole stream within the bound, or an error that says which it is not."""

from __future__ import annotations

import gzip
import zlib

import pytest

from oidcgate.inflate import GZIP, InflateError, inflate


def test_one_whole_stream_within_the_bound() -> None:
    assert inflate(zlib.compress(b"abc"), 3) == b"abc"
    assert inflate(gzip.compress(b"abc"), 3, GZIP, "gzip") == b"abc"


@pytest.mark.parametrize(("data", "error"), [
    (b"\x00\x01 not zlib", "not zlib data"),
    (zlib.compress(b"abcd"), "larger than 3 bytes"),
    (zlib.compress(b"abc")[:-2], "truncated zlib data"),
    (zlib.compress(b"abc") + b"x", "bytes after the end"),
])
def test_what_is_not_one_whole_stream_within_the_bound(data: bytes, error: str) -> None:
    with pytest.raises(InflateError, match=error):
        inflate(data, 3)


def test_trailing_bytes_only_where_allowed() -> None:
    assert inflate(gzip.compress(b"abc") + b"more", 3, GZIP, "gzip", allow_trailing=True) == b"abc"
