"""Finding credentials (RFC 6750 §2, RFC 6749 §2.3.1) and hiding them from the upstream."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus

import pytest

from oidcgate.plugins.openid_connect.client_auth import basic_authorization
from oidcgate.plugins.openid_connect.credentials import (
    BearerToken,
    ClientCredentials,
    find,
    hide,
    parse_basic,
)
from oidcgate.plugins.openid_connect.errors import InvalidRequest
from oidcgate.plugins.pdk import HeaderView, Request, ServiceRequest

ALL = ("header", "query", "body")


class TrackedRequest(Request):
    """A request that records when its body is read."""

    reads: list[int]


def request(headers: list[tuple[str, str]] | None = None, query: str = "", body: bytes | None = None,
            method: str = "GET") -> TrackedRequest:
    reads: list[int] = []

    async def reader(limit: int) -> bytes:
        reads.append(limit)
        return body or b""

    req = TrackedRequest(method, "/", query, HeaderView(headers or []), scheme="http", host="gw", port=8000,
                         client_ip="127.0.0.1", body_reader=reader)
    req.reads = reads
    return req


def basic(raw: str) -> tuple[str, str]:
    return ("Authorization", "Basic " + base64.b64encode(raw.encode()).decode())


def test_basic_is_form_urlencoded_before_base64() -> None:
    """RFC 6749 §2.3.1: id and secret are urlencoded, so ':' '+' '%' and non-ASCII survive."""
    secret = "p:a+s s%wörd"
    header = basic_authorization("my client", secret)
    creds = parse_basic(header.removeprefix("Basic "))
    assert (creds.client_id, creds.client_secret) == ("my client", secret)
    assert ":" not in base64.b64decode(header[6:]).decode().split(":", 1)[1]  # the secret's ':' was encoded
    raw = parse_basic(base64.b64encode(f"id:{quote_plus('a+b')}".encode()).decode())
    assert raw.client_secret == "a+b"


@pytest.mark.parametrize("value", ["!!!notbase64", base64.b64encode(b"no-colon").decode(),
                                   base64.b64encode(b":secret-without-id").decode(),
                                   base64.b64encode(b"id:").decode(), base64.b64encode(b"\xff\xfe:x").decode()])
def test_malformed_basic_is_invalid_request(value: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_basic(value)


async def test_bearer_header_query_and_body() -> None:
    assert await find(request([("authorization", "bearer abc")]), ALL, ALL) == BearerToken("abc", "header")
    assert await find(request(query="x=1&access_token=abc"), ALL, ALL) == BearerToken("abc", "query")
    form = [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")]
    assert await find(request(form, body=b"access_token=abc&x=1", method="POST"), ALL, ALL) == \
        BearerToken("abc", "body")


async def test_client_credentials_header_query_and_body() -> None:
    found = await find(request([basic("id:secret")]), ALL, ALL)
    assert found == ClientCredentials("id", "secret", "header")
    assert "secret" not in repr(found)
    assert await find(request(query="client_id=id&client_secret=s%20x"), ALL, ALL) == \
        ClientCredentials("id", "s x", "query")
    form = [("Content-Type", "application/x-www-form-urlencoded")]
    assert await find(request(form, body=b"client_id=id&client_secret=s", method="POST"), ALL, ALL) == \
        ClientCredentials("id", "s", "body")


async def test_param_types_limit_where_credentials_are_looked_for() -> None:
    assert await find(request([("Authorization", "Bearer abc")]), ("query",), ALL) is None
    assert await find(request(query="access_token=abc"), ("header",), ()) is None
    assert await find(request([basic("id:secret")]), ALL, ("query", "body")) is None


async def test_the_body_is_read_only_when_needed() -> None:
    form = [("Content-Type", "application/x-www-form-urlencoded")]
    with_header = request([*form, ("Authorization", "Bearer abc")], body=b"access_token=x", method="POST")
    await find(with_header, ALL, ALL)
    assert with_header.reads == []
    get = request(form, body=b"access_token=abc")  # RFC 6750 §2.2: not with GET
    assert await find(get, ALL, ALL) is None and get.reads == []
    json_body = request([("Content-Type", "application/json")], body=b'{"access_token": "x"}', method="POST")
    assert await find(json_body, ALL, ALL) is None and json_body.reads == []


@pytest.mark.parametrize(("headers", "query"), [
    ([("Authorization", "Bearer abc")], "access_token=abc"),
    ([], "access_token=a&access_token=b"),
    ([], "client_id=a&client_id=b&client_secret=s"),
    ([("Authorization", "Bearer ")], ""),
    ([], "client_id=&client_secret=s"),
])
async def test_ambiguous_or_empty_credentials_are_invalid_requests(headers: list[tuple[str, str]],
                                                                    query: str) -> None:
    with pytest.raises(InvalidRequest):
        await find(request(headers, query), ALL, ALL)


async def test_other_schemes_are_not_credentials() -> None:
    assert await find(request([("Authorization", "Digest username=x")]), ALL, ALL) is None
    assert await find(request(query="client_id=only-an-id"), ALL, ALL) is None


async def test_hide_removes_only_the_credentials_from_what_goes_upstream() -> None:
    header = request([("Authorization", "Bearer abc"), ("Accept", "*/*")])
    upstream = ServiceRequest(header)
    hide(upstream, BearerToken("abc", "header"))
    assert upstream.headers.items() == [("Accept", "*/*")]
    assert header.headers.items() == [("Authorization", "Bearer abc"), ("Accept", "*/*")]  # what the client sent

    query = ServiceRequest(request(query="a=1&client_id=id&client_secret=s&b=%20x"))
    hide(query, ClientCredentials("id", "s", "query"))
    assert query.query_string == "a=1&b=%20x"

    form = request([("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", "27")],
                   body=b"access_token=abc&keep=v%26w", method="POST")
    found = await find(form, ALL, ALL)
    assert found is not None
    form_upstream = ServiceRequest(form)
    hide(form_upstream, found)
    assert form_upstream.body == b"keep=v%26w" and form.body == b"access_token=abc&keep=v%26w"
    assert form_upstream.headers.get("content-length") == "10"


async def test_hiding_body_credentials_keeps_other_bytes_intact() -> None:
    form = request([("Content-Type", "application/x-www-form-urlencoded")], method="POST",
                   body=b"client_id=id&client_secret=s%C3%BC&raw=\xfe\xff%FF")
    found = await find(form, ALL, ALL)
    assert found == ClientCredentials("id", "sü", "body")
    upstream = ServiceRequest(form)
    hide(upstream, found)
    assert upstream.body == b"raw=\xfe\xff%FF"
