"""Malformed and hostile requests get a precise 4xx/5xx JSON answer and the connection is closed:
never a hang, a traceback or a request smuggled to the upstream. Raw sockets, real processes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.proxy.conftest import StartDP
from tests.proxy.helpers import DataPlane, service
from tests.proxy.rawhttp import Conn

H = b"Host: example.com\r\n"


@pytest.fixture(scope="module")
def dp(module_dataplane: StartDP, echo_port: int) -> Iterator[DataPlane]:
    yield module_dataplane(service(echo_port), args=("--client-header-timeout", "1", "--client-body-timeout", "1",
                                                     "--max-header-size", "8192"))


def refused(dp: DataPlane, data: bytes, status: int = 400) -> None:
    with Conn(dp.port) as conn:
        conn.send(data)
        response = conn.response()
        assert response.status == status, response.raw_head
        assert response.header("connection") == "close"
        assert "message" in response.json()  # type: ignore[operator]
        assert conn.closed_by_server(), "the connection must be closed after a refused request"


SMUGGLING = {
    "CL.TE (both framings)": b"POST /post HTTP/1.1\r\n" + H + b"Content-Length: 13\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n",
    "TE.CL (both framings)": b"POST /post HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n"
                             b"Content-Length: 4\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n",
    "duplicate Content-Length": b"POST /post HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    "conflicting Content-Length": b"POST /post HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "Content-Length list": b"POST /post HTTP/1.1\r\n" + H + b"Content-Length: 5, 5\r\n\r\nhello",
    "signed Content-Length": b"POST /post HTTP/1.1\r\n" + H + b"Content-Length: +5\r\n\r\nhello",
    "negative Content-Length": b"POST /post HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n",
    "hex Content-Length": b"POST /post HTTP/1.1\r\n" + H + b"Content-Length: 0x5\r\n\r\nhello",
    "overflowing Content-Length": b"POST /post HTTP/1.1\r\n" + H + b"Content-Length: 99999999999999999999999\r\n\r\n",
    "TE chunked, identity": b"POST /post HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    "TE identity": b"POST /post HTTP/1.1\r\n" + H + b"Transfer-Encoding: identity\r\n\r\nhello",
    "TE xchunked": b"POST /post HTTP/1.1\r\n" + H + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    "TE name with a space": b"POST /post HTTP/1.1\r\n" + H + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    "TE twice": b"POST /post HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "TE in HTTP/1.0": b"POST /post HTTP/1.0\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "TE obs-fold": b"POST /post HTTP/1.1\r\n" + H + b"Transfer-Encoding: x\r\n chunked\r\n\r\n0\r\n\r\n",
}

MALFORMED = {
    "bad chunk size": b"POST /post HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "overflowing chunk size": b"POST /post HTTP/1.1\r\n" + H
                              + b"Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
    "negative chunk size": b"POST /post HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
    "chunk without CRLF": b"POST /post HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
    "bare LF": b"GET /get HTTP/1.1\nHost: example.com\n\n",
    "bare CR in a value": b"GET /get HTTP/1.1\r\n" + H + b"X-A: a\rb\r\n\r\n",
    "obs-fold": b"GET /get HTTP/1.1\r\n" + H + b"X-A: a\r\n  b\r\n\r\n",
    "space in a header name": b"GET /get HTTP/1.1\r\n" + H + b"Bad Header: v\r\n\r\n",
    "NUL in a header name": b"GET /get HTTP/1.1\r\n" + H + b"X\x00: v\r\n\r\n",
    "NUL in a header value": b"GET /get HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n",
    "NUL in the target": b"GET /get\x00x HTTP/1.1\r\n" + H + b"\r\n",
    "8-bit byte in the target": b"GET /get\xff HTTP/1.1\r\n" + H + b"\r\n",
    "fragment in the target": b"GET /get#x HTTP/1.1\r\n" + H + b"\r\n",
    "broken percent-encoding": b"GET /a%zz HTTP/1.1\r\n" + H + b"\r\n",
    "invalid method token": b"G@T /get HTTP/1.1\r\n" + H + b"\r\n",
    "HTTP/1.2": b"GET /get HTTP/1.2\r\n" + H + b"\r\n",
    "HTTP/2 preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "missing Host in HTTP/1.1": b"GET /get HTTP/1.1\r\n\r\n",
    "two Host headers": b"GET /get HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n",
    "Host with a space": b"GET /get HTTP/1.1\r\nHost: a b\r\n\r\n",
    "Host with userinfo": b"GET /get HTTP/1.1\r\nHost: evil@example.com\r\n\r\n",
    "absolute-form with userinfo": b"GET http://u:p@example.com/get HTTP/1.1\r\n" + H + b"\r\n",
    "absolute-form, not http": b"GET ftp://example.com/get HTTP/1.1\r\n" + H + b"\r\n",
    "asterisk-form": b"OPTIONS * HTTP/1.1\r\n" + H + b"\r\n",
    "authority-form with GET": b"GET example.com:443 HTTP/1.1\r\n" + H + b"\r\n",
}


@pytest.mark.parametrize("name", list(SMUGGLING))
def test_request_smuggling_is_refused(dp: DataPlane, name: str) -> None:
    refused(dp, SMUGGLING[name])


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_requests_are_refused(dp: DataPlane, name: str) -> None:
    refused(dp, MALFORMED[name])


@pytest.mark.parametrize(("data", "status"), [
    (b"GET /get\r\n\r\n", 505),  # HTTP/0.9
    (b"GET /get HTTP/2.0\r\n" + H + b"\r\n", 505),
    (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405),
    (b"TRACE /get HTTP/1.1\r\n" + H + b"\r\n", 405),  # would reflect credentials (XST)
    (b"POST /post HTTP/1.1\r\n" + H + b"Expect: 200-ok\r\nContent-Length: 0\r\n\r\n", 417),
    (b"POST /post HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
])
def test_unsupported_requests(dp: DataPlane, data: bytes, status: int) -> None:
    refused(dp, data, status)


def test_oversized_head_431(dp: DataPlane) -> None:
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(100))
    refused(dp, b"GET /get HTTP/1.1\r\n" + H + many + b"\r\n", 431)
    refused(dp, b"GET /get HTTP/1.1\r\n" + H + b"X-Big: " + b"a" * 9000 + b"\r\n\r\n", 431)
    refused(dp, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414)


def test_a_head_that_never_ends_is_cut_at_the_limit(dp: DataPlane) -> None:
    """One header line sent in pieces must not grow without bound (llhttp buffers partial lines)."""
    with Conn(dp.port) as conn:
        conn.send(b"GET /get HTTP/1.1\r\n" + H + b"X-Long: ")
        with pytest.raises((ConnectionError, OSError)):
            for _ in range(400):
                conn.send(b"a" * 4096)
                time.sleep(0.002)
            conn.send(b"\r\n\r\n")
            response = conn.response()
            assert response.status == 431
            raise ConnectionError("answered")


def test_slowloris_head_timeout_408(dp: DataPlane) -> None:
    with Conn(dp.port) as conn:
        started = time.monotonic()
        conn.send(b"GET /get HTTP/1.1\r\n")
        for _ in range(4):  # keeps sending, slowly: a total time limit, not an idle limit
            time.sleep(0.4)
            conn.send(b"X-Slow: 1\r\n")
        response = conn.response()
        assert response.status == 408
        assert time.monotonic() - started < 5
        assert conn.closed_by_server()


def test_a_body_that_stops_coming_408(dp: DataPlane) -> None:
    with Conn(dp.port) as conn:
        conn.send(b"POST /post HTTP/1.1\r\n" + H + b"Content-Length: 100\r\n\r\nonly part")
        response = conn.response()
        assert response.status == 408
        assert conn.closed_by_server()


def test_an_idle_connection_is_closed(module_dataplane: StartDP, echo_port: int) -> None:
    dp = module_dataplane(service(echo_port), args=("--keepalive-timeout", "0.5"))
    with Conn(dp.port) as conn:
        conn.send(b"GET /get HTTP/1.1\r\n" + H + b"\r\n")
        assert conn.response().status == 200
        assert conn.closed_by_server(within=3)


def test_requests_before_a_refused_one_are_answered(dp: DataPlane) -> None:
    with Conn(dp.port) as conn:
        conn.send(b"GET /get HTTP/1.1\r\n" + H + b"\r\nGARBAGE\r\n\r\n")
        assert conn.response().status == 200
        assert conn.response().status == 400
        assert conn.closed_by_server()


def test_lenient_but_safe_forms_still_work(dp: DataPlane) -> None:
    with Conn(dp.port) as conn:  # optional whitespace around a value, coding names are case-insensitive
        conn.send(b"POST /post HTTP/1.1\r\n" + H + b"Transfer-Encoding: \t CHUNKED\r\n\r\n5;ext=1\r\nhello\r\n0\r\n\r\n")
        response = conn.response()
        assert response.status == 200
        assert response.json()["data"] == "hello"  # type: ignore[index]
        conn.send(b"GET http://example.com/get?x=1 HTTP/1.1\r\nHost: ignored.example\r\n\r\n")  # absolute-form
        response = conn.response()
        assert response.status == 200
        assert response.json()["headers"]["X-Forwarded-Host"] == "example.com"  # type: ignore[index]


SPOOFED = (b"X-Consumer-ID: 00000000-0000-4000-8000-000000000000\r\nx-consumer-username: admin\r\n"
           b"X-CONSUMER-CUSTOM-ID: root\r\nX-Credential-Identifier: admin\r\nX-Anonymous-Consumer: false\r\n"
           b"X-Consumer-Groups: admins\r\nX-Authenticated-Groups: admins\r\nX-Credential-Username: admin\r\n")


def test_spoofed_consumer_headers_never_reach_the_upstream(dp: DataPlane) -> None:
    """Only the gateway says who a request is: a client's X-Consumer-* copies are dropped on every route,
    also without plugins (the fast path), in any case and however many times they come."""
    with Conn(dp.port) as conn:
        conn.send(b"GET /get HTTP/1.1\r\n" + H + SPOOFED + SPOOFED + b"X-Kept: yes\r\n\r\n")
        response = conn.response()
        assert response.status == 200
        seen = {name.lower() for name in response.json()["headers"]}  # type: ignore[index]
    assert "x-kept" in seen
    assert not seen & {b.split(b":")[0].lower().decode() for b in SPOOFED.split(b"\r\n") if b}


def test_the_proxy_survives_all_of_it(dp: DataPlane) -> None:
    """After every attack above, the worker is the same process and still serves."""
    status = dp.status()
    assert len(status["workers"]) == 1
    with Conn(dp.port) as conn:
        conn.send(b"GET /get HTTP/1.1\r\n" + H + b"\r\n")
        assert conn.response().status == 200
    assert "Traceback" not in dp.proc.output()
