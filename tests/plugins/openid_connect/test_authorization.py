"""Kong's rule for `*_required`: AND within an entry (space-separated), OR between entries."""

from __future__ import annotations

import pytest

from oidcgate.jwt.claims import satisfied
from oidcgate.plugins.openid_connect.authorization import compile_checks, compile_requirement, first_failure


def test_compile_requirement() -> None:
    assert compile_requirement(None) is None
    assert compile_requirement([]) is None
    assert compile_requirement(["a b", "c"]) == (frozenset({"a", "b"}), frozenset({"c"}))


@pytest.mark.parametrize(("values", "expected"), [
    ({"a", "b"}, True),
    ({"a", "b", "x"}, True),
    ({"c"}, True),
    ({"a"}, False),
    ({"b", "x"}, False),
    (set(), False),
])
def test_and_within_or_between(values: set[str], expected: bool) -> None:
    requirement = compile_requirement(["a b", "c"])
    assert requirement is not None
    assert satisfied(requirement, frozenset(values)) is expected


def test_checks_report_the_first_failure() -> None:
    checks = compile_checks([("scopes", ["scope"], ["orders:read"]), ("groups", ["groups"], None),
                             ("roles", ["realm_access", "roles"], ["admin", "ops auditors"])])
    assert [check.name for check in checks] == ["scopes", "roles"]  # groups requires nothing
    assert first_failure(checks, {"scope": "orders:read", "realm_access": {"roles": ["auditors", "ops"]}}) is None
    failed = first_failure(checks, {"scope": "orders:read", "realm_access": {"roles": ["ops"]}})
    assert failed is not None and failed.name == "roles"
    failed = first_failure(checks, {"scope": "orders:write"})
    assert failed is not None and failed.name == "scopes"
