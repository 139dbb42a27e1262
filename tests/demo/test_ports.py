"""`oidcgate demo --ports`: which parts move where, and what is refused."""

from __future__ import annotations

import pytest

from oidcgate.demo.ports import DEFAULT_PORTS, Addresses, parse_ports


def test_the_defaults_and_moved_parts() -> None:
    assert parse_ports("") == Addresses(DEFAULT_PORTS)
    moved = parse_ports(" proxy=18000, idp=19000 ")
    assert moved.ports == {**DEFAULT_PORTS, "proxy": 18000, "idp": 19000}
    assert (moved.url("proxy"), moved.listen("admin"), moved.issuer) == (
        "http://127.0.0.1:18000", "127.0.0.1:8001", "http://127.0.0.1:19000/oauth2/default")


@pytest.mark.parametrize(("text", "why"), [
    ("dataplane=1", "unknown part 'dataplane'"),
    ("proxy=", "the port must be a number"),
    ("proxy=70000", "the port must be a number from 1 to 65535"),
    ("proxy=9000", "two parts on one port"),  # the identity provider's default
])
def test_refused(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_ports(text)
