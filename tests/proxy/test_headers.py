"""The client's address behind trusted proxies (Kong's forwarded IP): what a client can and cannot claim."""

from __future__ import annotations

import pytest

from oidcgate.proxy.headers import TrustedIPs, forwarded_address

TRUSTED = TrustedIPs(["127.0.0.1/32", "10.0.0.0/8"])


@pytest.mark.parametrize(("xff", "expected"), [
    (b"203.0.113.7", "203.0.113.7"),
    (b"198.51.100.1, 203.0.113.7", "203.0.113.7"),  # the left part is the client's own say
    (b"203.0.113.7, 10.1.2.3", "203.0.113.7"),  # through two trusted proxies
    (b"10.9.9.9, 10.1.2.3", "10.9.9.9"),  # nothing but trusted hops: the leftmost
    (b"203.0.113.7:51234", "203.0.113.7"),  # with a port, as some load balancers write it
    (b"[2001:db8::7]:51234", "2001:db8::7"),
    (b"2001:db8::7", "2001:db8::7"),
    (b"unknown", "127.0.0.1"),  # no address: the trusted peer is the client as far as anyone can tell
    (b"203.0.113.7, garbage, 10.1.2.3", "10.1.2.3"),
    (b"", "127.0.0.1"),
])
def test_the_rightmost_untrusted_address_is_the_client(xff: bytes, expected: str) -> None:
    assert forwarded_address(xff, "127.0.0.1", TRUSTED) == expected
