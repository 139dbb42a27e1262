"""Bodies stream through with bounded memory: a big upload and a big download must not grow the worker.

The peak RSS (VmHWM) of the worker is read from /proc before and after. Both directions include a
stall (an upstream that does not read for a second, a client that does not read for a second) so
back-pressure, not luck, keeps memory flat. Size: OIDCGATE_STREAM_TEST_MB (default 256; 1024 for
the full 1 GiB).
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time

import httpx

from tests.proxy.conftest import StartDP
from tests.proxy.helpers import DataPlane
from tests.support.processes import free_port

MIB = 1 << 20
SIZE = int(os.environ.get("OIDCGATE_STREAM_TEST_MB", "256")) * MIB
ALLOWED_GROWTH = 8 * MIB
BLOCK = bytes(range(256)) * 4096  # 1 MiB


def peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


class SlowSink:
    """An upstream that waits a second before reading a request body, then hashes it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server = socket.create_server(("127.0.0.1", self.port))
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:")))
            time.sleep(1.0)  # the proxy must stop reading the client meanwhile
            digest = hashlib.sha256(rest)
            received = len(rest)
            while received < length:
                chunk = conn.recv(1 << 20)
                if not chunk:
                    break
                digest.update(chunk)
                received += len(chunk)
            body = digest.hexdigest().encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    def __enter__(self) -> SlowSink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.close()
        self.thread.join(5)


def _worker(dp: DataPlane) -> int:
    return int(dp.status()["workers"][0]["pid"])


def _warm_up(dp: DataPlane) -> None:
    for _ in range(3):
        httpx.post(dp.url + "/up/anything", content=BLOCK * 4, timeout=30)
        httpx.get(dp.url + "/up/bytes/4194304", timeout=30)


def test_big_upload_and_download_keep_memory_flat(dataplane: StartDP, echo_port: int) -> None:
    with SlowSink() as sink:
        dp = dataplane({"_format_version": "3.0", "services": [
            {"name": "echo", "url": f"http://127.0.0.1:{echo_port}", "routes": [{"paths": ["/up"]}]},
            {"name": "sink", "url": f"http://127.0.0.1:{sink.port}", "routes": [{"paths": ["/sink"]}]}]})
        pid = _worker(dp)
        _warm_up(dp)
        before = peak_rss(pid)

        # Upload: SIZE bytes to an upstream that stalls before reading.
        digest = hashlib.sha256()
        with socket.create_connection(("127.0.0.1", dp.port), timeout=60) as sock:
            sock.sendall(b"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % SIZE)
            for _ in range(SIZE // MIB):
                sock.sendall(BLOCK)
                digest.update(BLOCK)
            answer = b""
            while not answer.endswith(digest.hexdigest().encode()):
                chunk = sock.recv(65536)
                assert chunk, answer
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200")

        # Download: SIZE bytes to a client that stalls before reading.
        with socket.create_connection(("127.0.0.1", dp.port), timeout=60) as sock:
            sock.sendall(b"GET /up/bytes/%d?seed=3&chunk_size=1048576 HTTP/1.1\r\nHost: x\r\n\r\n" % SIZE)
            time.sleep(1.0)  # the proxy must stop reading the upstream meanwhile
            received = 0
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(65536)
            head, _, rest = head.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200") and b"Content-Length: %d" % SIZE in head
            received = len(rest)
            while received < SIZE:
                chunk = sock.recv(1 << 20)
                assert chunk, f"closed after {received} bytes"
                received += len(chunk)
        assert received == SIZE

        growth = peak_rss(pid) - before
        assert growth <= ALLOWED_GROWTH, f"peak RSS grew by {growth / MIB:.1f} MiB for {SIZE // MIB} MiB each way"
