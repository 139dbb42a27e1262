"""Proxying end to end: `oidcgate dp` and `oidcgate echo` as real processes, real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.proxy.conftest import StartDP
from tests.proxy.helpers import DataPlane
from tests.proxy.rawhttp import Conn
from tests.support.processes import free_port

H = b"Host: example.com\r\n"


@pytest.fixture(scope="module")
def dp(module_dataplane: StartDP, echo_port: int) -> Iterator[DataPlane]:
    up = f"http://127.0.0.1:{echo_port}"
    doc = {"_format_version": "3.0", "services": [
        {"name": "echo", "url": up, "routes": [
            {"name": "root", "paths": ["/"]},
            {"name": "strip", "paths": ["/strip"]},
            {"name": "keep", "paths": ["/keep"], "strip_path": False},
            {"name": "preserve", "paths": ["/preserve"], "preserve_host": True},
            {"name": "users", "paths": [r"~/users/(?P<id>\d+)"]},
            {"name": "https-only", "paths": ["/secure"], "protocols": ["https"]},
            {"name": "redirect", "paths": ["/moved"], "protocols": ["https"], "https_redirect_status_code": 301},
        ]},
        {"name": "based", "url": f"{up}/anything/base", "routes": [{"name": "based", "paths": ["/based"]}]},
        {"name": "slow", "url": up, "read_timeout": 500, "retries": 0,
         "routes": [{"name": "slow", "paths": ["/slow"]}]},
        {"name": "refused", "url": f"http://127.0.0.1:{free_port()}", "retries": 2,
         "routes": [{"name": "refused", "paths": ["/refused"]}]},
        {"name": "nowhere", "url": "http://no-such-host.invalid", "retries": 0,
         "routes": [{"name": "nowhere", "paths": ["/nowhere"]}]},
    ]}
    yield module_dataplane(doc)


def get(dp: DataPlane, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(dp.url + path, timeout=10, **kwargs)


def echoed(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_forwarded_headers_kong_semantics(dp: DataPlane) -> None:
    body = echoed(get(dp, "/anything/x?a=1&b=2", headers={"X-Forwarded-For": "10.0.0.1",
                                                           "X-Forwarded-Host": "spoofed.example",
                                                           "Via": "1.0 corporate-proxy"}))
    headers = body["headers"]
    assert headers["X-Forwarded-For"] == "10.0.0.1, 127.0.0.1"  # appended, as nginx does
    assert headers["X-Real-IP"] == "127.0.0.1"
    assert headers["X-Forwarded-Proto"] == "http"
    assert headers["X-Forwarded-Host"] == "127.0.0.1"  # the client is not trusted: replaced
    assert headers["X-Forwarded-Port"] == str(dp.port)
    assert headers["X-Forwarded-Path"] == "/anything/x"
    assert headers["Via"] == "1.0 corporate-proxy, 1.1 oidcgate"
    assert headers["Host"] == body["url"].split("/")[2]  # the service's host, not the client's
    assert body["args"] == {"a": "1", "b": "2"}


def test_hop_by_hop_headers_do_not_cross(dp: DataPlane) -> None:
    with Conn(dp.port) as conn:
        conn.send(b"GET /anything HTTP/1.1\r\n" + H + b"Connection: keep-alive, X-Private\r\nX-Private: 1\r\n"
                  b"Keep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic eA==\r\n"
                  b"Proxy-Connection: keep-alive\r\nX-Public: 2\r\n\r\n")
        response = conn.response()
    headers = {k.lower() for k in json.loads(response.body)["headers"]}
    assert "x-public" in headers
    assert not headers & {"x-private", "keep-alive", "te", "proxy-authorization", "proxy-connection", "connection"}
    assert response.header("via") == "1.1 oidcgate"
    assert response.header("connection") is None  # HTTP/1.1 keep-alive is the default


def test_strip_path_and_service_paths(dp: DataPlane) -> None:
    assert echoed(get(dp, "/strip/anything/a"))["url"].endswith("/anything/a")
    assert get(dp, "/keep/x").status_code == 404  # echo has no /keep: the path went as is
    assert echoed(get(dp, "/based/users?q=1"))["url"].endswith("/anything/base/users?q=1")
    assert echoed(get(dp, "/based"))["url"].endswith("/anything/base")
    body = echoed(get(dp, "/strip/anything"))
    assert body["headers"]["X-Forwarded-Prefix"] == "/strip"


def test_regex_route_strips_the_match(dp: DataPlane) -> None:
    assert get(dp, "/users/42/anything/books").json()["url"].endswith("/anything/books")


def test_preserve_host(dp: DataPlane) -> None:
    body = echoed(get(dp, "/preserve/anything", headers={"Host": "api.example.com"}))
    assert body["headers"]["Host"] == "api.example.com"


def test_https_only_routes(dp: DataPlane) -> None:
    response = get(dp, "/secure/x")
    assert response.status_code == 426
    assert response.json() == {"message": "Please use HTTPS protocol"}
    moved = get(dp, "/moved/x?y=1", headers={"Host": "api.example.com"})
    assert moved.status_code == 301
    assert moved.headers["location"] == "https://api.example.com/moved/x?y=1"


def test_keep_alive_and_http10(dp: DataPlane) -> None:
    with Conn(dp.port) as conn:
        for i in range(20):  # each answer is its request's, and nothing else arrives
            conn.send(b"GET /anything/%d HTTP/1.1\r\n" % i + H + b"\r\n")
            assert conn.response().json()["url"].endswith(f"/anything/{i}")  # type: ignore[index]
            assert conn.buffer == b""
        conn.sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            conn.sock.recv(100)
        conn.sock.settimeout(conn.timeout)
        conn.send(b"GET /get HTTP/1.0\r\n" + H + b"Connection: keep-alive\r\n\r\n")
        response = conn.response()
        assert response.header("connection") == "keep-alive"
        conn.send(b"GET /stream-bytes/1000 HTTP/1.0\r\n\r\n")  # no Host in 1.0; no chunked for 1.0
        response = conn.response()
        assert response.status == 200 and len(response.body) == 1000
        assert response.header("transfer-encoding") is None
        assert conn.closed_by_server()


def test_chunked_both_ways(dp: DataPlane, echo_port: int) -> None:
    with Conn(dp.port) as conn:
        conn.send(b"POST /post HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
                  b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        response = conn.response()
        assert response.json()["data"] == "hello world"  # type: ignore[index]
        conn.send(b"GET /stream-bytes/100000?seed=7&chunk_size=1000 HTTP/1.1\r\n" + H + b"\r\n")
        response = conn.response()
        assert response.header("transfer-encoding") == "chunked"
        assert len(response.body) == 100000
        direct = httpx.get(f"http://127.0.0.1:{echo_port}/stream-bytes/100000?seed=7&chunk_size=1000").content
        assert response.body == direct


def test_head_keeps_the_connection_usable(dp: DataPlane) -> None:
    with Conn(dp.port) as conn:
        conn.send(b"HEAD /bytes/5000 HTTP/1.1\r\n" + H + b"\r\n")
        response = conn.response(head_request=True)
        assert response.status == 200 and response.header("content-length") == "5000"
        conn.send(b"GET /get HTTP/1.1\r\n" + H + b"\r\n")
        assert conn.response().status == 200


def test_expect_100_continue(dp: DataPlane) -> None:
    with Conn(dp.port) as conn:
        conn.send(b"POST /post HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        interim = conn.response()
        assert interim.status == 100
        conn.send(b"hello")
        response = conn.response()
        assert response.status == 200
        assert response.json()["body_length"] == 5  # type: ignore[index]
        assert "Expect" not in response.json()["headers"]  # type: ignore[index]


def test_pipelined_requests_answered_in_order(dp: DataPlane) -> None:
    with Conn(dp.port) as conn:
        conn.send(b"".join(b"GET /anything/%d HTTP/1.1\r\n" % i + H + b"\r\n" for i in range(5))
                  + b"POST /anything/post HTTP/1.1\r\n" + H + b"Content-Length: 3\r\n\r\nabc")
        for i in range(5):
            assert conn.response().json()["url"].endswith(f"/anything/{i}")  # type: ignore[index]
        assert conn.response().json()["data"] == "abc"  # type: ignore[index]


def test_upstream_refused_502_after_retries(dp: DataPlane) -> None:
    response = get(dp, "/refused/x")
    assert response.status_code == 502
    assert response.json() == {"message": "An invalid response was received from the upstream server"}


def test_upstream_timeout_504(dp: DataPlane) -> None:
    started = time.monotonic()
    response = get(dp, "/slow/delay/3")
    assert response.status_code == 504
    assert response.json() == {"message": "The upstream server is timing out"}
    assert time.monotonic() - started < 2.5
    assert get(dp, "/slow/delay/0.1").status_code == 200  # within the read timeout


def test_dns_failure_503(dp: DataPlane) -> None:
    response = get(dp, "/nowhere")
    assert response.status_code == 503
    assert response.json() == {"message": "name resolution failed"}


def test_status_codes_and_bodies_pass_through(dp: DataPlane) -> None:
    assert get(dp, "/status/418").status_code == 418
    assert get(dp, "/status/204").status_code == 204
    assert get(dp, "/bytes/70000").content.__len__() == 70000


def test_access_log_never_holds_credentials_or_queries(dp: DataPlane) -> None:
    get(dp, "/anything/logme?access_token=SECRET-QUERY", headers={"Authorization": "Bearer SECRET-HEADER",
                                                                  "Cookie": "session=SECRET-COOKIE"})
    time.sleep(0.6)  # the worker flushes its log buffer on its tick
    text = dp.access_log.read_text()
    assert "SECRET" not in text
    entries = [json.loads(line) for line in text.splitlines()]
    entry = next(e for e in entries if e["path"] == "/anything/logme")
    assert entry["status"] == 200 and entry["route"] == "root" and entry["service"] == "echo"
    assert entry["method"] == "GET" and entry["client_ip"] == "127.0.0.1"
    assert entry["latencies"]["request"] >= entry["latencies"]["proxy"] >= 0


class UpgradeUpstream:
    """Answers an Upgrade request with 101 and then echoes every byte back upper-cased."""

    def __init__(self) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.ready = threading.Event()

    def _run(self) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            assert b"upgrade: websocket" in head.lower()
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            while data := await reader.read(65536):
                writer.write(data.upper())
            writer.close()

        async def main() -> None:
            server = await asyncio.start_server(handle, "127.0.0.1", self.port)
            self.ready.set()
            async with server:
                await server.serve_forever()

        with contextlib.suppress(asyncio.CancelledError):
            self.loop.run_until_complete(main())

    def __enter__(self) -> UpgradeUpstream:
        self.thread.start()
        self.ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks(self.loop)])
        self.thread.join(5)


def test_protocol_upgrade_is_tunnelled(dataplane: StartDP) -> None:
    with UpgradeUpstream() as upstream:
        dp = dataplane({"_format_version": "3.0", "services": [
            {"name": "ws", "url": f"http://127.0.0.1:{upstream.port}", "routes": [{"paths": ["/ws"]}]}]})
        with Conn(dp.port) as conn:
            conn.send(b"GET /ws HTTP/1.1\r\n" + H + b"Connection: Upgrade\r\nUpgrade: websocket\r\n"
                      b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nearly")
            response = conn.response(head_request=True)
            assert response.status == 101
            assert response.header("upgrade") == "websocket"
            received = conn.buffer
            conn.send(b" bytes")
            deadline = time.monotonic() + 5
            while len(received) < len(b"EARLY BYTES") and time.monotonic() < deadline:
                received += conn.sock.recv(100)
            assert received == b"EARLY BYTES"


def test_upload_and_download_integrity(dp: DataPlane) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB
    response = httpx.post(dp.url + "/anything/up", content=payload, timeout=30)
    assert response.json()["body_sha256"] == hashlib.sha256(payload).hexdigest()
    with socket.create_connection(("127.0.0.1", dp.port)) as sock:  # a request body sent slowly, in pieces
        sock.sendall(b"POST /anything HTTP/1.1\r\n" + H + b"Content-Length: 10\r\n\r\n")
        for piece in (b"01234", b"56789"):
            time.sleep(0.1)
            sock.sendall(piece)
        assert b'"body_length": 10' in sock.recv(65536)
