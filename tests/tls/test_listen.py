"""Kong's listen syntax: addresses with flags, unsupported flags refused by name."""

from __future__ import annotations

import pytest

from oidcgate.tls.listen import ListenAddress, format_listen, parse_listen


def test_plain_and_ssl_addresses() -> None:
    found = parse_listen("127.0.0.1:8000, 127.0.0.1:8443 ssl,[::1]:9443 ssl")
    assert found == [ListenAddress("127.0.0.1", 8000), ListenAddress("127.0.0.1", 8443, True),
                     ListenAddress("::1", 9443, True)]
    assert format_listen(found) == "127.0.0.1:8000, 127.0.0.1:8443 ssl, [::1]:9443 ssl"


@pytest.mark.parametrize(("value", "message"), [
    ("127.0.0.1:8443 ssl http2", "listen flag 'http2' in '127.0.0.1:8443 ssl http2' is not supported"),
    ("127.0.0.1:8000 proxy_protocol", "listen flag 'proxy_protocol'"),
    ("127.0.0.1:8000,", "empty address"),
    ("127.0.0.1", "expected HOST:PORT"),
    ("127.0.0.1:99999 ssl", "expected HOST:PORT"),
])
def test_refused_with_a_precise_message(value: str, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_listen(value)
    assert message in str(refused.value)
