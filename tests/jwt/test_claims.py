"""Reading claims: the values a claim carries and the value at a claim path."""

from __future__ import annotations

from oidcgate.jwt.claims import claim_at, claim_values


def test_claim_values_from_strings_and_arrays() -> None:
    assert claim_values("orders:read  orders:write") == {"orders:read", "orders:write"}
    assert claim_values(["admins", "users", 3, None, {"x": 1}]) == {"admins", "users"}
    assert claim_values(None) == frozenset() and claim_values(42) == frozenset() and claim_values({"a": 1}) == frozenset()


def test_claim_paths_walk_nested_objects() -> None:
    claims = {"realm_access": {"roles": ["admin"]}, "scope": "a", "flat": "x"}
    assert claim_at(claims, ["realm_access", "roles"]) == ["admin"]
    assert claim_at(claims, ["scope"]) == "a"
    assert claim_at(claims, ["flat", "deeper"]) is None
    assert claim_at(claims, ["missing", "roles"]) is None
