"""The HTTP parser the data plane runs: httptools rebuilt for SSE4.2 by the Makefile where the CPU has it
(llhttp then scans header names and values 16 bytes at a time), and that build judging header bytes as
the byte-by-byte one does, at every position of a long value."""

from __future__ import annotations

import sys
from pathlib import Path

import httptools
import pytest
from httptools import HttpParserError, HttpRequestParser

PCMPESTRI = bytes.fromhex("660f3a61")  # the SSE4.2 instruction llhttp's SIMD scan uses
MARKER = Path(sys.prefix) / ".llhttp-build"


def cpu_has_sse42() -> bool:
    try:
        return "sse4_2" in Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False


@pytest.mark.skipif(not MARKER.exists(), reason="httptools was not installed by `make install`")
def test_the_parser_is_built_for_the_cpu() -> None:
    parser_so = next((Path(httptools.__file__).parent / "parser").glob("parser*.so"))
    has_simd = PCMPESTRI in parser_so.read_bytes()
    if cpu_has_sse42():
        assert "built here with -msse4.2" in MARKER.read_text()
        assert has_simd, f"{parser_so} has no SSE4.2 scan: pip reused a wheel built without CFLAGS?"
    else:
        assert "PyPI's wheel" in MARKER.read_text()


class Collect:
    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_message_complete(self) -> None:
        self.complete = True


def parse(head: bytes) -> Collect:
    collect = Collect()
    HttpRequestParser(collect).feed_data(head)
    return collect


def request(value: bytes, name: bytes = b"X-Long") -> bytes:
    return b"GET / HTTP/1.1\r\nHost: a\r\n" + name + b": " + value + b"\r\n\r\n"


def test_long_values_of_every_allowed_byte_pass_intact() -> None:
    allowed = bytes([9, *range(0x20, 0x7F), *range(0x80, 0x100)])  # HTAB, VCHAR, SP, obs-text
    value = b"v" + (allowed * 8) + b"v"  # 1,800 bytes: every 16-byte window of the scan, each class
    collect = parse(request(value))
    assert collect.complete
    assert collect.headers[-1] == (b"X-Long", value)


@pytest.mark.parametrize("bad", [0x00, 0x01, 0x08, 0x0B, 0x0C, 0x1F, 0x7F], ids=hex)
@pytest.mark.parametrize("at", [0, 1, 15, 16, 17, 31, 47, 1000, 1023])
def test_a_forbidden_byte_anywhere_in_a_long_value_is_refused(bad: int, at: int) -> None:
    value = bytearray(b"a" * 1024)
    value[at] = bad
    with pytest.raises(HttpParserError):
        parse(request(bytes(value)))


@pytest.mark.parametrize("at", [0, 15, 16, 17, 40])
def test_a_forbidden_byte_in_a_long_header_name_is_refused(at: int) -> None:
    name = bytearray(b"X-" + b"n" * 62)
    name[at + 2 if at + 2 < len(name) else -1] = ord("(")
    with pytest.raises(HttpParserError):
        parse(request(b"v", bytes(name)))


def test_a_long_name_and_a_bare_lf_inside_a_value() -> None:
    name = b"X-" + b"Abcdefghijklmnop" * 4
    assert parse(request(b"v", name)).headers[-1] == (name, b"v")
    with pytest.raises(HttpParserError):
        parse(request(b"a" * 40 + b"\nX-Smuggled: 1" + b"a" * 40))
