"""The PDK's request objects: headers over the parsed wire fields, a request decoded only when read."""

from __future__ import annotations

from typing import Any

import pytest

from oidcgate.config.entities import Consumer, ConsumerGroup, ConsumerGroupConsumer, Route
from oidcgate.plugins.pdk import ConsumerIndex, Context, Headers, Request, encode_field

PARSED = [b"Accept", b": ", b"*/*", b"\r\n", b"X-Tag", b": ", b"a", b"\r\n", b"x-tag", b": ", b"b", b"\r\n"]


def test_wrapped_headers_share_the_parsed_list_and_read_it_case_insensitively() -> None:
    fields = list(PARSED)
    headers = Headers.wrap(fields)
    assert headers.get("ACCEPT") == "*/*" and headers.get("missing", "d") == "d"
    assert headers.get_all("x-TAG") == ["a", "b"] and headers.get_all("nope") == []
    assert headers.single("accept") == b"*/*" and headers.single("x-tag") is None  # two: not a single value
    assert "X-Tag" in headers and "Nope" not in headers and len(headers) == 3
    assert headers.keys() == [b"accept", b"x-tag", b"x-tag"]
    assert not headers.changed and headers.added == []
    headers.remove("x-tag")
    assert fields == PARSED[:4] and headers.changed  # edited in place: the owner's list is the one changed


def test_edits_keep_order_and_note_the_added_names() -> None:
    headers = Headers.wrap(list(PARSED))
    headers.set("accept", "text/html")  # one field: replaced where it was
    headers.set("X-Tag", "c")  # two: both go, one is added
    headers.add("X-New", "1")
    headers.add_fields(encode_field("X-Claim", "v"))
    assert headers.items() == [("accept", "text/html"), ("X-Tag", "c"), ("X-New", "1"), ("X-Claim", "v")]
    assert headers.added == [b"accept", b"x-tag", b"x-new", b"x-claim"]
    assert headers.keys() == [b"accept", b"x-tag", b"x-new", b"x-claim"]
    assert headers.fields[-4:] == [b"X-Claim", b": ", b"v", b"\r\n"]


@pytest.mark.parametrize(("name", "value"), [("X-A", "one\r\nX-Injected: 1"), ("X-A", "nul\0"), ("X-A", "lf\n"),
                                             ("Bad Name", "v"), ("X:A", "v"), ("", "v")])
def test_a_field_that_would_break_the_header_block_is_refused(name: str, value: str) -> None:
    headers = Headers.wrap(list(PARSED))
    with pytest.raises(ValueError):
        headers.add(name, value)
    with pytest.raises(ValueError):
        headers.set(name, value)
    assert headers.fields == PARSED and not headers.changed


def test_built_headers_are_changed_with_unknown_additions() -> None:
    headers = Headers([("A", "1")])
    assert headers.changed and headers.added is None  # a server checks every name of such headers
    copy = headers.copy()
    copy.add("B", "2")
    assert headers.items() == [("A", "1")] and copy.items() == [("A", "1"), ("B", "2")]


class Source:
    """A RequestSource that counts how often the request's text was decoded."""

    def __init__(self) -> None:
        self.decoded = 0

    def request_text(self) -> list[Any]:
        self.decoded += 1
        return ["GET", "/a%20b", "q=1", "gw.test", "http", 8000, "127.0.0.1", "1.1"]

    def forwarded_ip(self) -> str:
        return "203.0.113.9"

    async def read_body(self, limit: int) -> bytes:
        return b"body"


async def test_a_request_decodes_its_text_once_and_only_when_read() -> None:
    source = Source()
    request = Request.of(source, Headers.wrap(list(PARSED)))
    assert request.headers.get("accept") == "*/*" and source.decoded == 0
    assert not request.line_changed()
    assert (request.method, request.path, request.host, request.port, request.client_ip) == \
        ("GET", "/a%20b", "gw.test", 8000, "127.0.0.1")
    assert request.forwarded_ip == "203.0.113.9"
    assert request.query == {"q": ["1"]} and source.decoded == 1
    assert not request.line_changed()
    request.query_string = "q=2"
    assert request.query == {"q": ["2"]} and request.line_changed()
    assert await request.read_body() == b"body" and request.body == b"body"


def test_a_request_built_by_hand_reads_as_given() -> None:
    request = Request("POST", "/x", "", Headers(), scheme="https", host="h", port=443, client_ip="::1",
                      http_version="1.0")
    assert (request.method, request.scheme, request.http_version, request.query) == ("POST", "https", "1.0", {})
    request.method = "PUT"
    assert request.line_changed()


def test_context_dicts_exist_once_used() -> None:
    ctx = Context(Request.of(Source(), Headers()), None, None, ConsumerIndex([]))  # type: ignore[arg-type]
    ctx.shared["a"] = 1
    ctx.log_fields["b"] = 2
    assert ctx.shared == {"a": 1} and ctx.log_fields == {"b": 2}


def _context() -> Context:
    request = Request("GET", "/", "", Headers.wrap(list(PARSED)), scheme="http", host="gw", port=8000,
                      client_ip="127.0.0.1")
    return Context(request, Route(paths=["/"]), None, ConsumerIndex([]))


def test_authenticate_sets_kongs_consumer_headers_and_a_second_call_replaces_them() -> None:
    ctx = _context()
    alice = Consumer(id="7f1e6c3a-0d5b-4a43-8f0e-6d2b1c9a8e01", username="alice", custom_id="c-1")
    ctx.authenticate(alice, {"id": "alice-sub"})
    headers = ctx.request.headers
    assert [headers.get(n) for n in ("X-Consumer-ID", "X-Consumer-Custom-ID", "X-Consumer-Username",
                                     "X-Credential-Identifier")] == [alice.id, "c-1", "alice", "alice-sub"]
    assert "X-Anonymous-Consumer" not in headers
    anonymous = Consumer(id="0c5f5e1e-3b1a-4c9e-9f59-1d6a3f3f5b02", username="anon")
    ctx.authenticate(anonymous)  # Kong's `anonymous`: a consumer, no credential
    assert headers.get_all("X-Consumer-Username") == ["anon"] and headers.get("X-Anonymous-Consumer") == "true"
    assert "X-Credential-Identifier" not in headers and "X-Consumer-Custom-ID" not in headers
    ctx.authenticate(None, {"id": "svc\r\nX-Injected: 1\u20ac"})  # a credential without a consumer
    assert headers.get("X-Credential-Identifier") == "svc??X-Injected: 1?" and "X-Consumer-ID" not in headers
    assert headers.get("Accept") == "*/*"


def test_consumer_index_finds_usernames_in_any_case_and_groups_by_name() -> None:
    """Kong's select_by_username_ignore_case: an exact match first, else the oldest consumer."""
    newer = Consumer(id="1a1a1a1a-0000-4000-8000-000000000001", username="Alice", created_at=20)
    older = Consumer(id="2b2b2b2b-0000-4000-8000-000000000002", username="ALICE", created_at=10)
    exact = Consumer(id="3c3c3c3c-0000-4000-8000-000000000003", username="alice", created_at=30)
    gold = ConsumerGroup(id="4d4d4d4d-0000-4000-8000-000000000004", name="gold")
    index = ConsumerIndex([newer, older], [gold])
    assert index.find_username_ignore_case("aLiCe") is older and index.find_username_ignore_case("Alice") is newer
    assert index.find_username_ignore_case("bob") is None and index.find("username", "alice") is None
    assert ConsumerIndex([newer, exact, older]).find_username_ignore_case("alice") is exact
    assert index.group_named("gold") is gold and index.group_named("Gold") is None


def test_consumer_groups_are_the_consumers_until_a_plugin_sets_others() -> None:
    alice = Consumer(id="7f1e6c3a-0d5b-4a43-8f0e-6d2b1c9a8e01", username="alice")
    gold = ConsumerGroup(id="4d4d4d4d-0000-4000-8000-000000000004", name="gold")
    silver = ConsumerGroup(id="5e5e5e5e-0000-4000-8000-000000000005", name="silver")
    request = Request("GET", "/", "", Headers(), scheme="http", host="gw", port=8000, client_ip="127.0.0.1")
    ctx = Context(request, Route(paths=["/"]), None,
                  ConsumerIndex([alice], [gold, silver], [ConsumerGroupConsumer(consumer=alice.id, consumer_group=gold.id)]))
    assert ctx.consumer_groups == () and ctx.consumer_group_ids() == frozenset()
    ctx.set_consumer_groups((silver,))
    assert ctx.consumer_groups == (silver,) and ctx.consumer_group_ids() == {silver.id}
    ctx.authenticate(alice, {"id": "k"})  # Kong: authenticating resets them to the consumer's
    assert ctx.consumer_groups == (gold,) and ctx.consumer_group_ids() == {gold.id}
    ctx.set_consumer_groups(())
    assert ctx.consumer_groups == () and ctx.consumer_group_ids() == frozenset()
