"""Reading claims, free of I/O: the values at a claim path and Kong's any-of-all-of requirement.

Here rather than in the plugin's `authorization` because the audience check of `verify` needs them too.
The claim holding the values is found by a path (`["realm_access", "roles"]`); a string claim is split
on white space (the RFC 6749 `scope` form), an array claim contributes its string members.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Requirement = tuple[frozenset[str], ...]  # any one of these sets, all of its members


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
