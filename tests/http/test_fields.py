"""Header fields in wire form: the one type that knows the layout, read and edited by name."""

from __future__ import annotations

import pytest
from httptools import HttpRequestParser

from oidcgate.http import fields as fields_module
from oidcgate.http.fields import HeaderFields, Received, encode_field, encode_fields, lower_name

RECEIVED = [("Accept", "*/*"), ("X-Tag", "a"), ("x-tag", "b")]


def fields(items: list[tuple[str, str]] = RECEIVED) -> HeaderFields:
    return HeaderFields.of(items)


def test_names_are_found_whatever_their_case_and_keep_it_on_the_wire() -> None:
    found = fields()
    assert found.first(b"accept") == b"*/*" and found.first(b"missing") is None
    assert found.values(b"x-tag") == (b"a", b"b") and found.values(b"nope") == ()
    assert found.count(b"x-tag") == 2 and b"x-tag" in found and b"X-Tag" not in found  # keys are lower-case
    assert found.names() == [b"accept", b"x-tag", b"x-tag"] and len(found) == 3
    assert b"".join(found.wire) == b"Accept: */*\r\nX-Tag: a\r\nx-tag: b\r\n"


def test_each_lower_case_name_is_one_object_whatever_its_spelling() -> None:
    spellings = [b"X-Trace-Id", b"x-trace-id", b"X-TRACE-ID"]
    lowered = [lower_name(bytes(spelling)) for spelling in spellings]  # (new objects, as a parser makes them)
    assert lowered == [b"x-trace-id"] * 3 and lowered[0] is lowered[1] is lowered[2]
    assert fields([("X-Trace-Id", "1"), ("x-trace-id", "2")]).names()[1] is lowered[0]


def test_long_names_are_lowered_but_not_remembered() -> None:
    name = b"X-" + b"Long" * 40  # a client's to choose: not kept in the memo
    assert lower_name(name) == name.lower() and name not in fields_module._lowered


def test_edits_keep_the_order_and_replace_in_place() -> None:
    edited = fields()
    edited.set("accept", "text/html")  # one field: replaced where it was
    edited.set("X-Tag", "c")  # two: the first's place, the other goes
    edited.add("X-New", "1")
    edited.extend(encode_fields([("X-Claim", "v"), ("X-Claim", "w")]))
    assert edited.items() == [(b"accept", b"text/html"), (b"X-Tag", b"c"), (b"X-New", b"1"), (b"X-Claim", b"v"),
                              (b"X-Claim", b"w")]
    assert edited.names() == [b"accept", b"x-tag", b"x-new", b"x-claim", b"x-claim"]
    assert edited.remove(b"x-claim") and not edited.remove(b"x-claim")
    assert edited.remove_all({b"accept", b"x-new"}) and edited.items() == [(b"X-Tag", b"c")]


def test_folded_names_catch_the_spellings_servers_take_for_one() -> None:
    found = fields([("X_Groups", "forged"), ("x-groups", "forged"), ("X-GROUPS-2", "kept"), ("Accept", "*/*")])
    assert found.remove_folded(frozenset({b"x-groups"}))
    assert found.items() == [(b"X-GROUPS-2", b"kept"), (b"Accept", b"*/*")]
    assert not found.remove_folded(frozenset({b"x-groups"}))


def test_a_copy_is_edited_alone() -> None:
    original = fields()
    copied = original.copy()
    copied.remove(b"x-tag")
    assert len(original) == 3 and len(copied) == 1


@pytest.mark.parametrize(("name", "value"), [("X-A", "one\r\nX-Injected: 1"), ("X-A", "nul\0"), ("X-A", "lf\n"),
                                             ("Bad Name", "v"), ("X:A", "v"), ("", "v")])
def test_a_field_that_would_break_the_header_block_is_refused(name: str, value: str) -> None:
    found = fields()
    with pytest.raises(ValueError):
        found.add(name, value)
    with pytest.raises(ValueError):
        found.set(name, value)
    with pytest.raises(ValueError):
        encode_field(name, value)
    assert found.items() == fields().items()


def test_received_fields_are_kept_or_set_aside_by_their_kind() -> None:
    kinds: dict[bytes, int] = {}

    def classify(name: bytes) -> int:
        kinds[name] = 1 if name.lower() == b"host" else 0
        return kinds[name]

    received = Received(kinds, classify)

    class Protocol:
        on_header = received.receive

        def on_headers_complete(self) -> None: ...

    HttpRequestParser(Protocol()).feed_data(b"GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nHOST: again\r\n\r\n")
    assert received.aside == [(1, b"Host", b"h"), (1, b"HOST", b"again")] and len(received) == 3
    assert received.size() == len(b"Host: h\r\nAccept: */*\r\nHOST: again\r\n")
    taken = received.take()
    assert taken.items() == [(b"Accept", b"*/*")] and len(received.take()) == 0
    assert kinds == {b"Host": 1, b"Accept": 0, b"HOST": 1}  # memoized by the name as received
