"""The PDK: what the client sent (read-only, decoded only when read), what goes upstream (edited by
name, a copy of the client's made when first used), and what a plugin's run leaves to replay."""

from __future__ import annotations

from typing import Any

import pytest

from oidcgate.config.entities import Consumer, ConsumerGroup, ConsumerGroupConsumer, Route
from oidcgate.http.fields import HeaderFields
from oidcgate.plugins.pdk import (
    ConsumerIndex,
    Context,
    Headers,
    HeaderView,
    Recording,
    Request,
    ServiceRequest,
)

RECEIVED = [("Accept", "*/*"), ("X-Tag", "a"), ("x-tag", "b")]


def test_the_clients_headers_are_read_by_name_and_cannot_be_edited() -> None:
    headers = HeaderView(RECEIVED)
    assert headers.get("ACCEPT") == "*/*" and headers.get("missing", "d") == "d"
    assert headers.get_all("x-TAG") == ["a", "b"] and headers.get_all("nope") == []
    assert headers.single("accept") == b"*/*" and headers.single("x-tag") is None  # two: not a single value
    assert "X-Tag" in headers and "Nope" not in headers and len(headers) == 3
    assert headers.names() == [b"accept", b"x-tag", b"x-tag"]
    assert not hasattr(headers, "set") and not hasattr(headers, "add") and not hasattr(headers, "remove")


def test_edited_headers_note_the_names_they_add() -> None:
    headers = Headers.over(HeaderFields.of(RECEIVED))
    headers.set("accept", "text/html")
    headers.add("X-New", "1")
    headers.remove("x-tag")
    headers.remove_like(["X_New"])
    headers.add("Host", "upstream.test")
    assert headers.items() == [("accept", "text/html"), ("Host", "upstream.test")]
    assert headers.added == [b"accept", b"x-new", b"host"]


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
    received = HeaderFields.of(RECEIVED)
    request = Request.of(source, HeaderView.over(received), received)
    assert request.headers.get("accept") == "*/*" and source.decoded == 0
    assert (request.method, request.path, request.host, request.port, request.client_ip) == \
        ("GET", "/a%20b", "gw.test", 8000, "127.0.0.1")
    assert request.forwarded_ip == "203.0.113.9"
    assert request.query == {"q": ["1"]} and source.decoded == 1
    assert await request.read_body() == b"body" and request.body == b"body"


async def test_what_goes_upstream_starts_as_the_clients_request_and_edits_leave_that_alone() -> None:
    request = Request("POST", "/x", "a=1", RECEIVED, scheme="https", host="h", port=443, client_ip="::1",
                      http_version="1.0", body_reader=lambda _limit: _body(b"sent"))
    upstream = ServiceRequest(request)
    assert (upstream.method, upstream.query_string, upstream.path, upstream.body) == ("POST", "a=1", None, None)
    assert upstream.headers_changed is None  # untouched: nothing to copy, nothing to apply
    upstream.headers.set("X-Tag", "z")
    upstream.method = "PUT"
    upstream.query_string = "b=2"
    upstream.set_path("/v2")
    assert (upstream.method, upstream.query, upstream.path) == ("PUT", {"b": ["2"]}, "/v2")
    assert upstream.headers.get_all("x-tag") == ["z"] and request.headers.get_all("x-tag") == ["a", "b"]
    assert (request.method, request.query_string, request.http_version) == ("POST", "a=1", "1.0")
    assert await upstream.read_body() == b"sent" and upstream.body == b"sent"  # the client's, as read
    upstream.body = b"replaced"
    assert await upstream.read_body() == b"replaced" and request.body == b"sent"


async def _body(value: bytes) -> bytes:
    return value


def test_context_dicts_exist_once_used() -> None:
    ctx = _context()
    ctx.shared["a"] = 1
    ctx.log_fields["b"] = 2
    assert ctx.shared == {"a": 1} and ctx.log_fields == {"b": 2}


def _context() -> Context:
    request = Request("GET", "/", "", RECEIVED, scheme="http", host="gw", port=8000, client_ip="127.0.0.1")
    return Context(request, Route(paths=["/"]), None, ConsumerIndex([]))


def test_authenticate_sets_kongs_consumer_headers_upstream_and_a_second_call_replaces_them() -> None:
    ctx = _context()
    alice = Consumer(id="7f1e6c3a-0d5b-4a43-8f0e-6d2b1c9a8e01", username="alice", custom_id="c-1")
    ctx.authenticate(alice, {"id": "alice-sub"})
    headers = ctx.service_request.headers
    assert [headers.get(n) for n in ("X-Consumer-ID", "X-Consumer-Custom-ID", "X-Consumer-Username",
                                     "X-Credential-Identifier")] == [alice.id, "c-1", "alice", "alice-sub"]
    assert "X-Anonymous-Consumer" not in headers and "X-Consumer-ID" not in ctx.request.headers
    anonymous = Consumer(id="0c5f5e1e-3b1a-4c9e-9f59-1d6a3f3f5b02", username="anon")
    ctx.authenticate(anonymous)  # Kong's `anonymous`: a consumer, no credential
    assert headers.get_all("X-Consumer-Username") == ["anon"] and headers.get("X-Anonymous-Consumer") == "true"
    assert "X-Credential-Identifier" not in headers and "X-Consumer-Custom-ID" not in headers
    ctx.authenticate(None, {"id": "svc\r\nX-Injected: 1\u20ac"})  # a credential without a consumer
    assert headers.get("X-Credential-Identifier") == "svc??X-Injected: 1?" and "X-Consumer-ID" not in headers
    assert headers.get("Accept") == "*/*"


def test_response_headers_set_from_the_access_phase_replace_earlier_ones() -> None:
    ctx = _context()
    ctx.add_response_header("Set-Cookie", "a=1")
    ctx.add_response_header("Set-Cookie", "b=2")
    ctx.set_response_header("X-Limit", "10")
    ctx.set_response_header("X-Limit", "9")
    assert ctx.response_header_items() == [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-Limit", "9")]
    assert ctx.response_replaces == {b"x-limit"}
    with pytest.raises(ValueError):
        ctx.add_response_header("X-Bad", "a\r\nb")


def test_response_headers_set_together_replace_as_one_call_each_would() -> None:
    ctx = _context()
    ctx.set_response_headers([("RateLimit-Limit", "5"), ("RateLimit-Remaining", "4")])
    assert ctx.response_header_items() == [("RateLimit-Limit", "5"), ("RateLimit-Remaining", "4")]
    ctx.add_response_header("Set-Cookie", "a=1")
    ctx.set_response_headers([("ratelimit-remaining", "3"), ("X-Limit", "1"), ("x-LIMIT", "2")])
    one_each = _context()
    for name, value in (("RateLimit-Limit", "5"), ("RateLimit-Remaining", "4")):
        one_each.set_response_header(name, value)
    one_each.add_response_header("Set-Cookie", "a=1")
    for name, value in (("ratelimit-remaining", "3"), ("X-Limit", "1"), ("x-LIMIT", "2")):
        one_each.set_response_header(name, value)
    assert ctx.response_header_items() == one_each.response_header_items() == [
        ("RateLimit-Limit", "5"), ("Set-Cookie", "a=1"), ("ratelimit-remaining", "3"), ("x-LIMIT", "2")]
    assert ctx.response_replaces == one_each.response_replaces == {b"ratelimit-limit", b"ratelimit-remaining",
                                                                   b"x-limit"}
    with pytest.raises(ValueError):
        ctx.set_response_headers([("X-Fine", "1"), ("X-Bad", "a\r\nb")])
    assert "X-Fine" not in dict(ctx.response_header_items())


def test_a_recording_keeps_header_edits_and_who_and_knows_what_cannot_be_replayed() -> None:
    ctx = _context()
    ctx.recording = recording = Recording()
    ctx.service_request.headers.set("X-Tag", "z")
    ctx.authenticate(None, {"id": "svc"})
    ctx.reuse_until(123.0)
    assert [edit.__name__ for edit, _ in recording.edits] == ["set", "extend"]
    assert recording.who == (None, {"id": "svc"}, None, None) and recording.until == 123.0 and recording.replayable
    for unreplayable in (lambda: ctx.shared, lambda: ctx.add_response_header("A", "b"),
                         lambda: setattr(ctx.service_request, "query_string", "x"),
                         lambda: ctx.service_request.set_path("/x")):
        ctx.recording = recording = Recording()
        unreplayable()
        assert not recording.replayable


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
    request = Request("GET", "/", "", [], scheme="http", host="gw", port=8000, client_ip="127.0.0.1")
    ctx = Context(request, Route(paths=["/"]), None,
                  ConsumerIndex([alice], [gold, silver], [ConsumerGroupConsumer(consumer=alice.id, consumer_group=gold.id)]))
    assert ctx.consumer_groups == () and ctx.consumer_group_ids() == frozenset()
    ctx.set_consumer_groups((silver,))
    assert ctx.consumer_groups == (silver,) and ctx.consumer_group_ids() == {silver.id}
    ctx.authenticate(alice, {"id": "k"})  # Kong: authenticating resets them to the consumer's
    assert ctx.consumer_groups == (gold,) and ctx.consumer_group_ids() == {gold.id}
    ctx.set_consumer_groups(())
    assert ctx.consumer_groups == () and ctx.consumer_group_ids() == frozenset()
