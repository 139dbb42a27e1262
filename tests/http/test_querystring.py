"""`querystring.may_hold`: it may say "maybe" wrongly, never "no" wrongly (the memo keys and the
plugins' fast paths skip parsing on its "no")."""

from __future__ import annotations

import random
from urllib.parse import parse_qs

import pytest

from oidcgate.http.querystring import may_hold, needles

NAMES = ("code", "state", "my arg")


@pytest.mark.parametrize(("query", "held"), [
    ("", False),
    ("page=2&sort=name", False),
    ("code=1", True),
    ("c%6Fde=1", True),  # an escape may spell a name
    ("my+arg=1", True),  # so may a `+`, for a name with a space
    ("myarg=1", False),
    ("encoded=1", True),  # (a "maybe": the name is inside another)
])
def test_what_a_query_may_hold(query: str, held: bool) -> None:
    assert may_hold(query, needles(NAMES)) is held
    assert may_hold(query.encode(), tuple(n.encode() for n in needles(NAMES))) is held


def test_a_plus_is_looked_for_only_when_a_name_has_a_space() -> None:
    assert needles(("code",)) == ("code", "%")
    assert needles(("my arg",)) == ("my arg", "%", "+")


def test_no_query_that_parses_to_a_name_is_said_not_to_hold_it() -> None:
    pieces = ["code", "c%6Fde", "%63ode", "co", "de", "state", "st%61te", "my+arg", "my%20arg", "my arg", "my",
              "+", "arg", "%", "%2", "6F", "=", "&", ";", "x", "e"]
    found = 0
    rng = random.Random(20261207)
    for _ in range(20_000):  # bounded: a few tenths of a second
        query = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        parsed = parse_qs(query, keep_blank_values=True)
        if any(name in parsed for name in NAMES):
            found += 1
            assert may_hold(query, needles(NAMES)), query
    assert found > 2_000  # the search reached the queries that matter
