"""Query strings as received: whether one may hold a parameter, before paying for parsing it.

`urllib.parse.parse_qs` yields a name only from its literal bytes, a %-escape, or a `+` (a space). So a
query that holds none of a parameter's names literally, no `%` and, for a name with a space, no `+`,
holds none of them once parsed. Per request that is a few `find` calls instead of a parse.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import AnyStr


def needles(names: Iterable[str]) -> tuple[str, ...]:
    """What to look for in a raw query that may hold one of `names`."""
    names = tuple(names)
    return (*names, "%", *(("+",) if any(" " in name for name in names) else ()))


def may_hold(query: AnyStr, needles: tuple[AnyStr, ...]) -> bool:
    """Whether `query` (as received: the plugin's text or the parser's bytes) may hold a parameter whose
    `needles` these are."""
    for needle in needles:  # noqa: SIM110 (no generator per request)
        if query.find(needle) >= 0:
            return True
    return False
