"""Claim-based authorization, free of I/O: Kong's rule for `audience_required`, `scopes_required`,
`groups_required` and `roles_required`.

Each `*_required` list is an OR of entries; one entry is an AND of its space-separated values. So
`["orders:read orders:write", "admin"]` passes a token with both order scopes, or with `admin`.
The claim holding the values is found by a path (`["realm_access", "roles"]`); a string claim is
split on white space (the RFC 6749 `scope` form), an array claim contributes its string members.
Requirements are compiled once per plugin instance; checking one is a few set operations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Requirement = tuple[frozenset[str], ...]  # any one of these sets, all of its members


def compile_requirement(entries: Sequence[str] | None) -> Requirement | None:
    """`["a b", "c"]` → `({"a", "b"}, {"c"})`; None or [] means nothing is required."""
    if not entries:
        return None
    return tuple(frozenset(entry.split()) for entry in entries)


def claim_at(claims: Mapping[str, Any], path: Sequence[str]) -> Any:
    """The value at `path` in nested claims, or None when any step is missing or not an object."""
    value: Any = claims
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def claim_values(value: Any) -> frozenset[str]:
    """The set of values a claim carries: words of a string, string members of an array."""
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(item for item in value if isinstance(item, str))
    return frozenset()


def satisfied(requirement: Requirement, values: frozenset[str]) -> bool:
    return any(entry <= values for entry in requirement)


@dataclass(frozen=True, slots=True)
class Check:
    """One `*_required` setting: its name (for the error), claim path and compiled requirement."""

    name: str
    path: tuple[str, ...]
    requirement: Requirement

    def passes(self, claims: Mapping[str, Any]) -> bool:
        return satisfied(self.requirement, claim_values(claim_at(claims, self.path)))


def compile_checks(specs: Sequence[tuple[str, Sequence[str], Sequence[str] | None]]) -> tuple[Check, ...]:
    """`(name, claim path, required entries)` triples → the checks that actually require something."""
    checks = []
    for name, path, entries in specs:
        requirement = compile_requirement(entries)
        if requirement is not None:
            checks.append(Check(name, tuple(path), requirement))
    return tuple(checks)


def first_failure(checks: Sequence[Check], claims: Mapping[str, Any]) -> Check | None:
    """The first check `claims` fail, or None when all pass."""
    for check in checks:
        if not check.passes(claims):
            return check
    return None
