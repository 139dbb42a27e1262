"""Recorded decisions (proxy.memo): whatever form a decision is replayed in (one concatenation, one pass
over the fields, or the edits one by one), the fields it leaves are exactly those its edits leave."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from oidcgate.http.fields import HeaderFields, encode_field, encode_fields
from oidcgate.proxy.memo import Decision

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
