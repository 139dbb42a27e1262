"""Recorded decisions (proxy.memo): whatever form a decision is replayed in (one concatenation, one pass
over the fields, or the edits one by one), the fields it leaves are exactly those its edits leave."""

from __future__ import annotations

import itertools
from collections.abc import Hashable
from typing import Any

import pytest

from oidcgate.http.fields import HeaderFields, encode_field, encode_fields
from oidcgate.plugins.pdk import MemoInputs, Recording
from oidcgate.proxy.memo import RECALL_MAX, Decision, Memo, Recent

FOREVER = float("inf")
CLAIMS = encode_fields([("Issuer-Header", "https://idp"), ("X-Subject", "alice")])
TOKEN = ("Authorization", "Bearer t0k3n")
FOLDED = frozenset({b"issuer-header", b"x-subject"})

# The edits of the plugins that record them: openid-connect's (forged claim headers out, claims in, the
# token header set), and shapes the compiled forms must refuse or leave to the edits.
EDITS: dict[str, list[tuple[Any, tuple[Any, ...]]]] = {
    "bearer": [(HeaderFields.remove_folded, (FOLDED,)), (HeaderFields.extend, (CLAIMS,))],
    "client credentials": [(HeaderFields.remove_folded, (FOLDED,)), (HeaderFields.extend, (CLAIMS,)),
                           (HeaderFields.set, TOKEN)],
    "set first": [(HeaderFields.set, TOKEN), (HeaderFields.remove, (b"x-drop",)), (HeaderFields.add, ("X-Add", "1"))],
    "removed, then set": [(HeaderFields.remove, (b"authorization",)), (HeaderFields.set, TOKEN)],
    "set, then added again": [(HeaderFields.set, TOKEN), (HeaderFields.add, ("Authorization", "Basic more"))],
    "hide credentials": [(HeaderFields.remove_all, (frozenset({b"authorization", b"cookie"}),)),
                         (HeaderFields.extend, (CLAIMS,))],
    "set of an added name": [(HeaderFields.add, ("X-A", "1")), (HeaderFields.set, ("X-A", "2"))],
    "removal of an added name": [(HeaderFields.add, ("X-A", "1")), (HeaderFields.remove, (b"x-a",))],
}
CLIENT_FIELDS = [("Authorization", "Basic c3ZjOnM="), ("authorization", "Basic second"), ("Accept", "*/*"),
                 ("Issuer_Header", "forged"), ("X-SUBJECT", "forged"), ("x_other", "1"), ("X-Drop", "x"),
                 ("Cookie", "a=b")]


def edited(edits: list[tuple[Any, tuple[Any, ...]]], base: HeaderFields) -> list[tuple[bytes, bytes]]:
    """What the edits leave, applied one by one (the plugin's full path)."""
    fields = base.copy()
    for edit, args in edits:
        edit(fields, *args)
    return fields.items()


def client_requests() -> list[list[tuple[str, str]]]:
    """Every choice of up to three of the client fields, in order: with none of the names a decision
    touches, with one, with several and repeated ones, with `_` spellings."""
    return [list(chosen) for size in range(4) for chosen in itertools.combinations(CLIENT_FIELDS, size)]


@pytest.mark.parametrize("shape", EDITS)
def test_a_replayed_decision_leaves_the_fields_its_edits_leave(shape: str) -> None:
    decision = Decision(FOREVER, EDITS[shape], (), None)
    for request in client_requests():
        base = HeaderFields.of(request)
        expected = edited(EDITS[shape], base)
        assert decision.applied(base).items() == expected, (shape, request)
        assert base.items() == HeaderFields.of(request).items()  # `applied` leaves the client's alone
        in_place = HeaderFields.of(request)
        decision.apply(in_place)
        assert in_place.items() == expected, (shape, request)


def test_what_each_shape_compiles_to() -> None:
    compiled = {shape: Decision(FOREVER, edits, (), None) for shape, edits in EDITS.items()}
    assert compiled["bearer"].compiled and not compiled["bearer"].sets
    cc = compiled["client credentials"]
    assert cc.compiled and cc.in_place and cc.sets == {b"authorization": encode_field(*TOKEN)}
    assert cc.hits == {b"authorization"} and cc.folded == FOLDED
    assert compiled["removed, then set"].compiled and not compiled["removed, then set"].in_place
    assert not compiled["set of an added name"].compiled and not compiled["removal of an added name"].compiled


def test_a_request_without_the_names_it_touches_gets_one_concatenation() -> None:
    base = HeaderFields.of([("Accept", "*/*"), ("Authorization", "Basic c3ZjOnM=")])
    replayed = Decision(FOREVER, EDITS["bearer"], (), None).applied(base)
    assert replayed.wire[:len(base.wire)] == base.wire and replayed.wire[len(base.wire):] == list(CLAIMS)


class Key:
    """A memo key that counts how often it is hashed (equal keys: equal `value`)."""

    hashed = 0

    def __init__(self, value: str) -> None:
        self.value = value

    def __hash__(self) -> int:
        Key.hashed += 1
        return hash(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Key) and other.value == self.value


def kept(memo: Memo, key: Hashable, still: list[bool], until: float = FOREVER) -> Decision:
    recording = Recording()
    recording.edits.append((HeaderFields.extend, (CLAIMS,)))
    recording.until, recording.still = until, lambda: still[0]
    memo.keep(key, recording)
    found = memo.lookup(key)
    assert found is not None
    return found


def test_a_connection_repeating_its_key_takes_its_previous_decision_by_comparison_not_by_hash() -> None:
    memo, holds = Memo(MemoInputs()), [True]
    recent: Recent = []
    decision = kept(memo, Key("cookie-a"), holds)
    assert memo.recall(Key("cookie-a"), recent, 0) is decision and recent == [(memo, Key("cookie-a"), decision)]
    hashed = Key.hashed
    for _ in range(3):  # equal keys, new objects: as each request parses its own
        assert memo.recall(Key("cookie-a"), recent, 0) is decision
    assert Key.hashed == hashed  # no dict probe
    other = kept(memo, Key("cookie-b"), [True])
    assert memo.recall(Key("cookie-b"), recent, 0) is other and recent[0][2] is other  # another key: the dict's


def test_a_previous_decision_that_no_longer_holds_is_not_taken_again() -> None:
    clock = [100.0]
    memo, holds = Memo(MemoInputs(clock=lambda: clock[0])), [True]
    recent: Recent = []
    decision = kept(memo, Key("cookie"), holds, until=200.0)
    assert memo.recall(Key("cookie"), recent, 0) is decision
    holds[0] = False  # a logout: the session's copy is gone
    assert memo.recall(Key("cookie"), recent, 0) is None and memo.lookup(Key("cookie")) is None
    renewed = kept(memo, Key("cookie"), [True], until=200.0)  # the full path decided again (a new sign-in)
    assert memo.recall(Key("cookie"), recent, 0) is renewed
    clock[0] = 200.0  # its time is up
    assert memo.recall(Key("cookie"), recent, 0) is None


def test_a_previous_decision_of_another_memo_is_not_taken() -> None:
    old, new = Memo(MemoInputs()), Memo(MemoInputs())
    recent: Recent = []
    kept(old, Key("cookie"), [True])
    assert old.recall(Key("cookie"), recent, 0) is not None
    assert new.recall(Key("cookie"), recent, 0) is None  # a new configuration's memo has recorded nothing yet


def test_a_connection_keeps_no_key_larger_than_recall_max() -> None:
    memo = Memo(MemoInputs())
    recent: Recent = []
    big = (b"x" * (RECALL_MAX + 1),)  # a padded cookie: the dict replays it, the connection does not keep it
    decision = kept(memo, big, [True])
    assert memo.recall((b"x" * (RECALL_MAX + 1),), recent, 0) is decision and recent == []
    small = (b"session=abc",)
    assert memo.recall(small, recent, 0) is None  # nothing recorded for it
    kept(memo, small, [True])
    assert memo.recall(small, recent, 0) is not None and len(recent) == 1
