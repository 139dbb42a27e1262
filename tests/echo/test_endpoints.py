"""The echo's endpoints as pure functions: shapes, methods and bounds."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from oidcgate.echo.body import ECHO_LIMIT, BodySink, describe
from oidcgate.echo.endpoints import MAX_BYTES, EchoRequest, Reply, dispatch


def request(method: str, target: str, headers: list[tuple[str, str]] | None = None,
            body: bytes = b"") -> EchoRequest:
    path, _, query = target.partition("?")
    sink = BodySink()
    sink.feed(body)
    return EchoRequest(method, target, path, query, [("Host", "echo.test")] if headers is None else headers, "10.0.0.1",
                       "127.0.0.1:9090", sink)


def payload(reply: Reply) -> dict:
    return orjson.loads(reply.body)


def test_get_echoes_method_url_args_headers_origin() -> None:
    reply = dispatch(request("GET", "/get?a=1&a=2&b=", [("Host", "echo.test"), ("X-One", "1"), ("X-One", "2")]))
    assert reply.status == 200
    body = payload(reply)
    assert body["method"] == "GET"
    assert body["url"] == "http://echo.test/get?a=1&a=2&b="
    assert body["args"] == {"a": ["1", "2"], "b": ""}
    assert body["headers"] == {"Host": "echo.test", "X-One": "1, 2"}
    assert body["origin"] == "10.0.0.1"
    assert body["body_length"] == 0


def test_url_falls_back_to_the_listen_address_without_host() -> None:
    assert payload(dispatch(request("GET", "/get", headers=[])))["url"] == "http://127.0.0.1:9090/get"


@pytest.mark.parametrize(("path", "method"), [("/post", "POST"), ("/put", "PUT"), ("/patch", "PATCH"),
                                              ("/delete", "DELETE")])
def test_method_paths_accept_only_their_method(path: str, method: str) -> None:
    assert dispatch(request(method, path)).status == 200
    refused = dispatch(request("GET", path))
    assert refused.status == 405
    assert ("Allow", method) in refused.headers


def test_anything_accepts_any_method_and_sub_paths() -> None:
    for method in ("GET", "POST", "PURGE", "OPTIONS"):
        body = payload(dispatch(request(method, "/anything/a/b?x=1")))
        assert body["method"] == method
        assert body["url"] == "http://echo.test/anything/a/b?x=1"


def test_json_and_form_bodies_are_decoded_like_httpbin() -> None:
    as_json = payload(dispatch(request("POST", "/post", [("Content-Type", "application/json")], b'{"a": [1]}')))
    assert as_json["json"] == {"a": [1]}
    assert as_json["data"] == '{"a": [1]}'
    as_form = payload(dispatch(request("POST", "/post", [("Content-Type", "application/x-www-form-urlencoded")],
                                       b"x=1&y=2&y=3")))
    assert as_form["form"] == {"x": "1", "y": ["2", "3"]}
    assert as_form["data"] == ""
    assert as_form["json"] is None


def test_binary_body_is_a_base64_data_url_and_bad_json_is_null() -> None:
    binary = payload(dispatch(request("POST", "/post", [("Content-Type", "application/json")], b"\xff\x00")))
    assert binary["data"] == "data:application/octet-stream;base64,/wA="
    assert binary["json"] is None


def test_headers_endpoint() -> None:
    assert payload(dispatch(request("GET", "/headers", [("A", "b")]))) == {"headers": {"A": "b"}}


def test_status_codes_and_their_bounds() -> None:
    assert dispatch(request("POST", "/status/418")).status == 418
    assert dispatch(request("GET", "/status/204")).body == b""
    for bad in ("/status/99", "/status/600", "/status/abc", "/status/1e3"):
        reply = dispatch(request("GET", bad))
        assert reply.status == 400, bad
        assert "status code" in payload(reply)["message"]


def test_delay_is_bounded_to_ten_seconds() -> None:
    assert dispatch(request("GET", "/delay/0.25")).delay == 0.25
    for bad in ("/delay/10.5", "/delay/-1", "/delay/nan", "/delay/inf", "/delay/x"):
        assert dispatch(request("GET", bad)).status == 400, bad


def test_bytes_are_streamed_in_chunks_and_reproducible_with_a_seed() -> None:
    reply = dispatch(request("GET", "/bytes/200000?seed=7&chunk_size=65536"))
    assert reply.status == 200
    assert reply.length == 200000
    assert reply.stream is not None
    chunks = list(reply.stream)
    assert [len(c) for c in chunks] == [65536, 65536, 65536, 3392]
    again = dispatch(request("GET", "/bytes/200000?seed=7"))
    assert again.stream is not None
    assert b"".join(again.stream) == b"".join(chunks)
    chunked = dispatch(request("GET", "/stream-bytes/10"))
    assert chunked.length is None


def test_bytes_bounds() -> None:
    assert dispatch(request("GET", f"/bytes/{MAX_BYTES}")).status == 200  # generated lazily, so cheap
    for bad in (f"/bytes/{MAX_BYTES + 1}", "/bytes/-1", "/bytes/1?seed=x", "/bytes/1?chunk_size=0",
                f"/bytes/1?chunk_size={(1 << 20) + 1}"):
        assert dispatch(request("GET", bad)).status == 400, bad
    assert dispatch(request("POST", "/bytes/1")).status == 405


@pytest.mark.parametrize("path", ["/", "/nope", "/status", "/status/", "/bytes/1/2", "/getx"])
def test_unknown_paths_are_404(path: str) -> None:
    reply = dispatch(request("GET", path))
    assert reply.status == 404
    assert "no such endpoint" in payload(reply)["message"]


def test_large_bodies_are_measured_not_kept() -> None:
    sink = BodySink()
    digest = hashlib.sha256()
    chunk = b"z" * 65536
    for _ in range(ECHO_LIMIT // len(chunk) + 2):
        sink.feed(chunk)
        digest.update(chunk)
    assert sink.kept is None
    described = describe(sink, "application/json")
    assert described["data"] is None
    assert described["body_length"] == ECHO_LIMIT + 2 * 65536
    assert described["body_sha256"] == digest.hexdigest()


def test_a_body_of_exactly_the_limit_is_still_echoed() -> None:
    sink = BodySink()
    sink.feed(b"a" * ECHO_LIMIT)
    assert describe(sink, "text/plain")["data"] == "a" * ECHO_LIMIT
