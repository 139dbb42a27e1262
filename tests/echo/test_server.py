"""`oidcgate echo` as a real process: endpoints over HTTP, keep-alive, pipelining, bounds, hostile input."""

from __future__ import annotations

import hashlib
import http.client
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from oidcgate.echo.http import MAX_HEAD_BYTES
from tests.support.processes import OIDCGATE, Proc, free_port, running

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    log = tmp_path_factory.mktemp("echo") / "echo.log"
    with running(["echo", "--listen", f"127.0.0.1:{port}"], log, wait_ports=[port]):
        yield port


def exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, read until the server closes (a hang fails the test after `timeout`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                return received
            received += chunk
    raise AssertionError(f"connection not closed within {timeout}s; got {received[:200]!r}")


def get_json(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict]:
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response.status, orjson.loads(response.read())


def test_endpoints_on_one_keep_alive_connection(echo: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", echo, timeout=5)
    status, body = get_json(conn, "GET", "/get?q=1")
    sock = conn.sock
    assert (status, body["args"], body["origin"]) == (200, {"q": "1"}, "127.0.0.1")
    assert body["url"] == f"http://127.0.0.1:{echo}/get?q=1"
    status, body = get_json(conn, "POST", "/post", b'{"k": "v"}', {"Content-Type": "application/json"})
    assert (status, body["json"]) == (200, {"k": "v"})
    status, body = get_json(conn, "PUT", "/anything/x/y", b"a=1", {"Content-Type": "application/x-www-form-urlencoded"})
    assert (status, body["method"], body["form"]) == (200, "PUT", {"a": "1"})
    status, body = get_json(conn, "GET", "/headers", headers={"X-Probe": "yes"})
    assert body["headers"]["X-Probe"] == "yes"
    conn.request("DELETE", "/status/503")
    response = conn.getresponse()
    assert (response.status, response.read()) == (503, b"")
    assert conn.sock is sock, "the server closed a keep-alive connection"
    conn.close()


def test_head_gets_headers_without_a_body(echo: int) -> None:
    reply = exchange(echo, b"HEAD /bytes/1000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"Content-Length: 1000" in head
    assert body == b""


def test_pipelined_requests_are_answered_in_order_even_across_a_delay(echo: int) -> None:
    reply = exchange(echo, b"GET /delay/0.2?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                           b"GET /get?n=2 HTTP/1.1\r\nHost: x\r\n\r\n"
                           b"GET /status/204 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert reply.count(b"HTTP/1.1 ") == 3
    assert reply.index(b'"n": "1"') < reply.index(b'"n": "2"') < reply.index(b"204 No Content")


def test_delay_waits_and_is_bounded(echo: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", echo, timeout=5)
    started = time.monotonic()
    status, _ = get_json(conn, "GET", "/delay/0.3")
    assert status == 200
    assert 0.3 <= time.monotonic() - started < 2
    status, body = get_json(conn, "GET", "/delay/30")
    assert status == 400
    assert body["message"] == "delay must be between 0 and 10, got 30"
    conn.close()


@pytest.mark.parametrize("path", ["/bytes/3000000?seed=5", "/stream-bytes/3000000?seed=5"])
def test_bytes_stream_with_both_framings(echo: int, path: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", echo, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    data = response.read()
    chunked = response.getheader("Transfer-Encoding") == "chunked"
    assert chunked == path.startswith("/stream-bytes")
    assert len(data) == 3000000
    conn.request("GET", "/bytes/3000000?seed=5")  # same seed, same bytes, same connection
    assert conn.getresponse().read() == data
    conn.close()


def test_large_upload_is_streamed_and_hashed(echo: int) -> None:
    chunk = bytes(range(256)) * 4096  # 1 MiB
    total = 32
    digest = hashlib.sha256()
    conn = http.client.HTTPConnection("127.0.0.1", echo, timeout=30)

    def body() -> Iterator[bytes]:
        for _ in range(total):
            digest.update(chunk)
            yield chunk

    conn.request("POST", "/anything", body=body(), encode_chunked=True,
                 headers={"Content-Type": "application/octet-stream"})
    response = conn.getresponse()
    echoed = orjson.loads(response.read())
    assert response.status == 200
    assert echoed["body_length"] == total * len(chunk)
    assert echoed["body_sha256"] == digest.hexdigest()
    assert echoed["data"] is None
    conn.close()


def test_expect_100_continue_is_answered(echo: int) -> None:
    with socket.create_connection(("127.0.0.1", echo), timeout=5) as sock:
        sock.sendall(b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hi")
        assert b'"data": "hi"' in sock.recv(65536)


@pytest.mark.parametrize(("raw", "status"), [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /get HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"GET /get HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
    (b"POST /post HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    (b"GET /get HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", 400),
    (b"GET /get HTTP/1.1\r\nHost: x\r\nX: " + b"a" * MAX_HEAD_BYTES + b"\r\n\r\n", 431),
    (b"GET /get HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(101)) + b"\r\n", 431),
])
def test_malformed_requests_get_a_4xx_and_the_connection_closed(echo: int, raw: bytes, status: int) -> None:
    reply = exchange(echo, raw)
    assert reply.startswith(b"HTTP/1.1 %d " % status), reply[:100]
    assert b"Connection: close" in reply
    assert orjson.loads(reply.partition(b"\r\n\r\n")[2])["message"]


def test_a_head_that_never_ends_is_cut_off(echo: int) -> None:
    with socket.create_connection(("127.0.0.1", echo), timeout=5) as sock:
        sock.sendall(b"GET /get HTTP/1.1\r\nX: ")
        for _ in range(3):  # separate reads on the server, each one an incomplete head
            time.sleep(0.05)
            sock.sendall(b"a" * (MAX_HEAD_BYTES // 2 - 1))
        assert sock.recv(100).startswith(b"HTTP/1.1 431 ")
    assert exchange(echo, b"GET /status/200 HTTP/1.1\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 200")


def test_upgrade_requests_are_answered_as_plain_http_then_closed(echo: int) -> None:
    reply = exchange(echo, b"GET /get HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x00")
    assert reply.startswith(b"HTTP/1.1 200 ")
    assert b"Connection: close" in reply


def test_http10_closes_by_default(echo: int) -> None:
    reply = exchange(echo, b"GET /stream-bytes/10 HTTP/1.0\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in head
    assert len(body) == 10


def test_workers_share_the_port_and_stop_together(tmp_path: Path) -> None:
    port = free_port()
    with running(["echo", "--listen", f"127.0.0.1:{port}", "--workers", "2"], tmp_path / "echo.log",
                 wait_ports=[port]) as proc:
        children = _children(proc)
        assert len(children) == 2
        for _ in range(20):
            assert exchange(port, b"GET /status/200 HTTP/1.1\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 200")
    assert proc.popen.returncode == 0
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def _children(proc: Proc) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(proc.popen.pid)], capture_output=True, text=True, check=False)
    return [int(pid) for pid in out.stdout.split()]


def test_a_busy_port_is_a_clear_error(echo: int) -> None:
    result = subprocess.run([*OIDCGATE, "echo", "--listen", f"127.0.0.1:{echo}"], capture_output=True,
                            text=True, timeout=20)
    assert result.returncode == 1
    assert "cannot listen on 127.0.0.1" in result.stderr


def test_bad_arguments_are_refused() -> None:
    for args in (["--listen", "nowhere"], ["--workers", "0"]):
        result = subprocess.run([*OIDCGATE, "echo", *args], capture_output=True, text=True, timeout=20)
        assert result.returncode == 2, args
