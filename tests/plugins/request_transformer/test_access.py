"""request-transformer's access phase on a PDK context: Kong's operations, in Kong's order."""

from __future__ import annotations

from urllib.parse import parse_qsl

import orjson
import pytest

from oidcgate.config.entities import Route
from oidcgate.plugins.pdk import ConsumerIndex, Context, HeaderView, PluginEnv, PluginExit, Request
from oidcgate.plugins.request_transformer.handler import RequestTransformerHandler


def make_context(method: str = "GET", query: str = "", headers: list[tuple[str, str]] | None = None,
                 body: bytes | None = None) -> Context:
    async def read(limit: int) -> bytes:
        assert body is not None
        if len(body) > limit:
            raise PluginExit(413, {"message": "request body too large"})
        return body

    request = Request(method, "/api/x", query, list(headers or []), scheme="http", host="gw.test",
                      port=8000, client_ip="127.0.0.1", body_reader=read if body is not None else None)
    return Context(request, Route(paths=["/api"]), None, ConsumerIndex([]))


def by_name(headers: HeaderView) -> dict[str, list[str]]:
    """Field values by name: the order of different fields does not matter, of repeated ones it does."""
    found: dict[str, list[str]] = {}
    for name, value in headers:
        found.setdefault(name, []).append(value)
    return found


async def run(config: dict, ctx: Context) -> Context:
    handler = RequestTransformerHandler(RequestTransformerHandler.validate_config(config), PluginEnv())
    await handler.access(ctx)
    return ctx


async def test_headers_in_kongs_order() -> None:
    ctx = make_context(headers=[("Host", "gw.test"), ("X-Remove", "1"), ("X-Old", "a"), ("X-Old", "b"),
                                ("X-Replace", "old"), ("X-Keep", "client")])
    await run({"remove": {"headers": ["x-remove", "x-absent"]},
               "rename": {"headers": ["x-old:X-New", "x-absent:X-Never"]},
               "replace": {"headers": ["x-replace:new", "x-not-there:ignored"]},
               "add": {"headers": ["X-Keep:added", "X-Added:v", "X-New:ignored"]},
               "append": {"headers": ["X-Keep:appended", "X-Multi:1", "X-Multi:2"]}}, ctx)
    assert by_name(ctx.service_request.headers) == {
        "Host": ["gw.test"], "x-replace": ["new"], "X-Keep": ["client", "appended"], "X-New": ["a", "b"],
        "X-Added": ["v"], "X-Multi": ["1", "2"]}


async def test_operations_see_the_result_of_the_previous_ones() -> None:
    # rename runs before add and replace: the renamed header counts as present
    ctx = await run({"rename": {"headers": ["a:b"]}, "replace": {"headers": ["b:replaced"]},
                     "add": {"headers": ["b:added"]}}, make_context(headers=[("a", "1")]))
    assert ctx.service_request.headers.items() == [("b", "replaced")]


async def test_rename_changes_the_case_of_a_header() -> None:
    ctx = await run({"rename": {"headers": ["x-id:X-ID"]}}, make_context(headers=[("x-id", "7")]))
    assert ctx.service_request.headers.items() == [("X-ID", "7")]


async def test_host_is_only_changed_by_replace() -> None:
    ctx = await run({"remove": {"headers": ["host"]}, "add": {"headers": ["Host:added"]}},
                    make_context(headers=[("Host", "gw.test")]))
    assert ctx.service_request.headers.get("host") == "gw.test"
    ctx = await run({"replace": {"headers": ["host:upstream.test"]}}, make_context(headers=[("Host", "gw.test")]))
    assert ctx.service_request.headers.get_all("host") == ["upstream.test"]


async def test_querystring_in_kongs_order() -> None:
    ctx = await run({"remove": {"querystring": ["drop"]}, "rename": {"querystring": ["old:new"]},
                     "replace": {"querystring": ["rep:2", "nope:x"]}, "add": {"querystring": ["add:1", "rep:no"]},
                     "append": {"querystring": ["multi:b", "fresh:c d"]}},
                    make_context(query="drop=1&old=o&rep=1&multi=a&keep=%2F"))
    assert ctx.service_request.query == {"new": ["o"], "rep": ["2"], "multi": ["a", "b"], "keep": ["/"], "add": ["1"],
                                 "fresh": ["c d"]}


async def test_an_untouched_querystring_is_forwarded_byte_for_byte() -> None:
    ctx = await run({"remove": {"querystring": ["absent"]}}, make_context(query="a=%7e&b"))
    assert ctx.service_request.query_string == "a=%7e&b"


async def test_json_body() -> None:
    body = orjson.dumps({"drop": 1, "old": "o", "rep": True, "list": ["a"], "keep": {"n": 1}})
    ctx = await run({"remove": {"body": ["drop"]}, "rename": {"body": ["old:new"]}, "replace": {"body": ["rep:r"]},
                     "add": {"body": ["added:1", "keep:no"]}, "append": {"body": ["list:b", "fresh:c"]}},
                    make_context("POST", headers=[("Content-Type", "application/json; charset=utf-8"),
                                                  ("Content-Length", str(len(body)))], body=body))
    assert ctx.service_request.body is not None
    assert orjson.loads(ctx.service_request.body) == {"rep": "r", "list": ["a", "b"], "keep": {"n": 1}, "new": "o",
                                              "added": "1", "fresh": ["c"]}
    assert ctx.service_request.headers.get("Content-Length") == str(len(ctx.service_request.body))


async def test_form_body_and_chunked_framing_is_replaced_by_a_length() -> None:
    ctx = await run({"remove": {"body": ["drop"]}, "append": {"body": ["a:2"]}, "add": {"body": ["n:x y"]}},
                    make_context("POST", headers=[("Content-Type", "application/x-www-form-urlencoded"),
                                                  ("Transfer-Encoding", "chunked")], body=b"a=1&drop=z&u=%C3%A9"))
    assert ctx.service_request.body == b"a=1&a=2&u=%C3%A9&n=x%20y"
    assert "Transfer-Encoding" not in ctx.service_request.headers
    assert ctx.service_request.headers.get("Content-Length") == str(len(ctx.service_request.body))


async def test_add_to_an_empty_json_body_creates_it() -> None:
    ctx = await run({"add": {"body": ["k:v"]}}, make_context("POST", headers=[("Content-Type", "application/json")],
                                                             body=b""))
    assert ctx.service_request.body == b'{"k":"v"}'


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/json", b"not json"),
    ("application/json", b"[1, 2]"),
    ("multipart/form-data; boundary=x", b"--x\r\n\r\n--x--\r\n"),
    ("text/plain", b"a=1"),
])
async def test_bodies_it_cannot_transform_are_forwarded_untouched(content_type: str, body: bytes) -> None:
    ctx = make_context("POST", headers=[("Content-Type", content_type)], body=body)
    await run({"add": {"body": ["k:v"]}, "remove": {"body": ["a"]}}, ctx)
    assert ctx.service_request.body in (None, body)
    assert "Content-Length" not in ctx.service_request.headers


async def test_no_body_operation_no_body_read() -> None:
    ctx = await run({"add": {"headers": ["x:y"]}},
                    make_context("POST", headers=[("Content-Type", "application/json")], body=b'{"a":1}'))
    assert ctx.service_request.body is None  # still streamed by the proxy


async def test_a_body_too_large_to_transform_is_a_413() -> None:
    ctx = make_context("POST", headers=[("Content-Type", "application/json")], body=b" " * ((1 << 20) + 1))
    with pytest.raises(PluginExit) as caught:
        await run({"add": {"body": ["k:v"]}}, ctx)
    assert caught.value.status == 413


async def test_http_method_and_form_body_into_the_query_for_get() -> None:
    ctx = await run({"http_method": "GET"},
                    make_context("POST", query="a=1", headers=[("Content-Type", "application/x-www-form-urlencoded")],
                                 body=b"a=2&b=3"))
    assert ctx.service_request.method == "GET"
    assert parse_qsl(ctx.service_request.query_string) == [("a", "1"), ("a", "2"), ("b", "3")]
    ctx = await run({"http_method": "PUT"}, make_context("POST", query="a=1"))
    assert (ctx.service_request.method, ctx.service_request.query_string) == ("PUT", "a=1")


async def test_replace_uri_sets_the_upstream_path() -> None:
    ctx = await run({"replace": {"uri": "/v2/items"}}, make_context())
    assert ctx.service_request.path == "/v2/items"
    assert ctx.request.path == "/api/x"  # what the client asked for


async def test_method_runs_before_headers_and_body() -> None:
    # the method moves the form body into the query; then the body operations still see the body
    ctx = await run({"http_method": "GET", "add": {"headers": ["X-Method-Seen:yes"]},
                     "remove": {"body": ["a"]}, "append": {"querystring": ["a:q"]}},
                    make_context("POST", headers=[("Content-Type", "application/x-www-form-urlencoded")],
                                 body=b"a=b"))
    assert parse_qsl(ctx.service_request.query_string) == [("a", "b"), ("a", "q")]
    assert ctx.service_request.body == b""
