"""Claims → upstream headers: predictable encoding, unsafe values refused, client copies removed."""

from __future__ import annotations

import pytest

from oidcgate.plugins.openid_connect.headers import ClaimHeaders, UnsafeClaimValue, encode_claim


@pytest.mark.parametrize(("value", "expected"), [
    ("https://idp.example/oauth2/default", "https://idp.example/oauth2/default"),
    (42, "42"),
    (1.5, "1.5"),
    (True, "true"),
    (False, "false"),
    (["admins", "users"], "admins, users"),
    ([1, True, "x"], "1, true, x"),
    ([], ""),
    ({"b": 1, "a": [1, 2]}, '{"b":1,"a":[1,2]}'),
    ([{"id": 1}, "x"], '[{"id":1},"x"]'),
    ([["a"]], '[["a"]]'),
    ("José 日本", "José 日本".encode().decode("latin-1")),  # UTF-8 bytes, one latin-1 character each
    (None, None),
])
def test_encoding(value: object, expected: str | None) -> None:
    assert encode_claim(value) == expected


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "nul\x00", "tab\there", "del\x7f",
                                   ["ok", "bad\r\n"], "x" * 4097])
def test_unsafe_values_are_refused(value: object) -> None:
    with pytest.raises(UnsafeClaimValue):
        encode_claim(value)


def test_longest_allowed_value() -> None:
    assert encode_claim("x" * 4096) == "x" * 4096
    with pytest.raises(UnsafeClaimValue, match="longer than 4096 bytes"):
        encode_claim("é" * 2049)  # 2049 characters, 4098 bytes


def test_names_use_dashes_and_client_copies_are_removed() -> None:
    mapping = ClaimHeaders(["iss", "groups", "missing"], ["Issuer_Header", "X-Groups", "X-Missing"])
    sent = ["issuer-header", "ISSUER_HEADER", "x_groups", "X-Missing", "Accept", "X-Groupsx", "Issuer"]
    assert mapping.forged([name.lower().encode() for name in sent]) == [name.lower() for name in sent[:4]]
    values = mapping.values({"iss": "https://idp", "groups": ["a", "b"]})
    assert values == [("Issuer-Header", "https://idp"), ("X-Groups", "a, b")]


def test_unsafe_claim_is_named() -> None:
    mapping = ClaimHeaders(["name"], ["X-Name"])
    with pytest.raises(UnsafeClaimValue, match="claim 'name' contains control characters"):
        mapping.values({"name": "Mallory\r\nX-Admin: true"})


def test_a_request_that_may_carry_a_copy_is_told_apart_in_one_pass() -> None:
    mapping = ClaimHeaders(["iss", "groups"], ["Issuer_Header", "X-Groups"])

    def fields(*names: str) -> list[bytes]:
        return [part for name in names for part in (name.encode(), b": ", b"v", b"\r\n")]

    assert mapping.may_be_forged(fields("Accept", "X-GROUPS"))
    assert mapping.may_be_forged(fields("issuer-header"))
    assert mapping.may_be_forged(fields("Accept", "any_name"))  # an underscore: checked name by name
    assert not mapping.may_be_forged(fields("Accept", "X-Groupsx", "Issuer", "X-Issuer-Header"))
    assert not mapping.may_be_forged([]) and not ClaimHeaders([], []).may_be_forged(fields("X-Groups"))
