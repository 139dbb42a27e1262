"""Claim-based authorization, free of I/O: Kong's rule for `audience_required`, `scopes_required`,
`groups_required` and `roles_required`.

Each `*_required` list is an OR of entries; one entry is an AND of its space-separated values. So
`["orders:read orders:write", "admin"]` passes a token with both order scopes, or with `admin`.
The claim holding the values is found by a path, read with `oidcgate.jwt.claims` (shared with the
verifier's audience check). Requirements are compiled once per plugin instance; checking one is a
few set operations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from oidcgate.jwt.claims import Requirement, claim_at, claim_values, satisfied


def compile_requirement(entries: Sequence[str] | None) -> Requirement | None:
    """`["a b", "c"]` → `({"a", "b"}, {"c"})`; None or [] means nothing is required."""
    if not entries:
        return None
    return tuple(frozenset(entry.split()) for entry in entries)


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
