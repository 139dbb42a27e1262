"""The admin guard's decision, request by request: which Host, Origin, Sec-Fetch-Site and /config body
types reach an admin API with and without a token (the real listeners are in the e2e tests)."""

from __future__ import annotations

from typing import Any

import pytest

from oidcgate.admin_guard import authority_host, is_local_host, refusal


def scope(host: str | None = "127.0.0.1:8001", *, method: str = "GET", path: str = "/services",
          server: tuple[str, int] | None = ("127.0.0.1", 8001), **headers: str) -> dict[str, Any]:
    fields = ([(b"host", host.encode("latin-1"))] if host is not None else []) + [
        (name.replace("_", "-").encode(), value.encode("latin-1")) for name, value in headers.items()]
    return {"type": "http", "method": method, "path": path, "headers": fields, "server": server}


@pytest.mark.parametrize("host", [
    "127.0.0.1:8001", "127.0.0.1", "127.8.9.10:1", "localhost", "LocalHost:8001", "[::1]:8001", "[::1]",
    "10.0.0.5:8001",  # the address the connection arrived at (server below)
])
def test_local_hosts_are_served_without_a_token(host: str) -> None:
    assert refusal(scope(host, server=("10.0.0.5", 8001)), token_required=False) is None


@pytest.mark.parametrize("host", [
    "evil.example", "evil.example:8001", "127.0.0.1.evil.example", "localhost.evil.example", "localhost.",
    "user@127.0.0.1", "127.0.0.1/x", "127.1", "0x7f.0.0.1", "10.0.0.6:8001", "[::1", "", None,
])
def test_other_hosts_are_misdirected(host: str | None) -> None:
    status, message = refusal(scope(host, server=("10.0.0.5", 8001)), token_required=False) or (0, "")
    assert status == 421
    assert f"Host '{host or ''}' is not served here" in message


def test_the_connection_address_of_a_dual_stack_listener_counts_as_its_ipv4_address() -> None:
    assert refusal(scope("10.0.0.5", server=("::ffff:10.0.0.5", 8001)), token_required=False) is None
    assert refusal(scope("10.0.0.5", server=None), token_required=False) == refusal(scope("10.0.0.5"),
                                                                                   token_required=False)


@pytest.mark.parametrize(("origin", "status"), [
    ("http://evil.example", 403), ("https://evil.example:8001", 403), ("null", 403), ("file://", 403),
    ("http://127.0.0.1.evil.example", 403), ("http://localhost@evil.example", 403), ("http://localhost/x", 403),
    ("http://localhost:8001", None), ("http://localhost:3000", None), ("https://127.0.0.1", None),
    ("http://[::1]:8001", None), ("HTTP://LOCALHOST:8001", None),
])
def test_origin_must_be_local(origin: str, status: int | None) -> None:
    refused = refusal(scope(method="POST", origin=origin), token_required=False)
    assert (refused and refused[0]) == status
    if refused:
        assert refused[1] == f"cross-site request refused: Origin '{origin}' is not local"


@pytest.mark.parametrize(("site", "status"), [("cross-site", 403), ("Cross-Site", 403), ("same-site", None),
                                               ("same-origin", None), ("none", None)])
def test_sec_fetch_site_cross_site_is_refused(site: str, status: int | None) -> None:
    refused = refusal(scope(method="POST", sec_fetch_site=site), token_required=False)
    assert (refused and refused[0]) == status


def test_with_a_token_host_and_origin_are_the_tokens_business() -> None:
    hostile = scope("evil.example", method="POST", origin="http://evil.example", sec_fetch_site="cross-site")
    assert refusal(hostile, token_required=True) is None
    assert refusal(hostile, token_required=False) is not None


@pytest.mark.parametrize("token_required", [False, True])
@pytest.mark.parametrize(("path", "content_type", "status"), [
    ("/config", "text/plain", 415), ("/config/", "Text/Plain; charset=utf-8", 415),
    ("/config", "application/yaml", None), ("/config", "application/json", None),
    ("/config", "multipart/form-data; boundary=x", None), ("/config", "application/x-www-form-urlencoded", None),
    ("/services", "text/plain", None),  # entity bodies have their own type rules (JSON or forms)
])
def test_config_refuses_text_plain(token_required: bool, path: str, content_type: str, status: int | None) -> None:
    refused = refusal(scope(method="POST", path=path, content_type=content_type), token_required=token_required)
    assert (refused and refused[0]) == status


def test_text_plain_is_only_refused_for_writes() -> None:
    assert refusal(scope(path="/config", content_type="text/plain"), token_required=False) is None


@pytest.mark.parametrize(("authority", "host"), [
    ("a.example:80", "a.example"), ("[::1]:1", "::1"), ("A.EXAMPLE", "a.example"), (" localhost ", "localhost"),
    ("a@b", None), ("a:b", None), ("a:123456", None), ("[::1]x", None), ("", None),
])
def test_authority_host(authority: str, host: str | None) -> None:
    assert authority_host(authority) == host


def test_is_local_host_ignores_a_malformed_server_address() -> None:
    assert not is_local_host("10.0.0.5", "not-an-address")
    assert is_local_host("127.0.0.1", "not-an-address")
