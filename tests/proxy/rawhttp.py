"""A tiny raw-socket HTTP/1.1 client for tests that must send exactly the bytes they mean."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

import orjson


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    raw_head: bytes = b""
    extra: bytes = b""  # bytes after this response (another response, or garbage)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self) -> object:
        return orjson.loads(self.body)


@dataclass
class Conn:
    """One client connection; `send` raw bytes, `response()` parses one response."""

    port: int
    timeout: float = 5.0
    sock: socket.socket = field(init=False)
    buffer: bytes = b""

    def __post_init__(self) -> None:
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buffer += chunk
        return True

    def response(self, head_request: bool = False) -> Response:
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill():
                raise ConnectionError(f"closed before a response head; got {self.buffer[:200]!r}")
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = [(k, v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
        self.buffer = rest
        response = Response(status, headers, b"", head + b"\r\n\r\n")
        if head_request or status in (204, 304) or 100 <= status < 200:
            return response
        length = response.header("content-length")
        if length is not None:
            while len(self.buffer) < int(length):
                if not self._fill():
                    raise ConnectionError("closed inside a body")
            response.body, self.buffer = self.buffer[:int(length)], self.buffer[int(length):]
        elif (response.header("transfer-encoding") or "").lower() == "chunked":
            response.body = self._chunked()
        else:
            while self._fill():
                pass
            response.body, self.buffer = self.buffer, b""
        return response

    def _chunked(self) -> bytes:
        body = b""
        while True:
            while b"\r\n" not in self.buffer:
                if not self._fill():
                    raise ConnectionError("closed inside a chunked body")
            size_line, _, self.buffer = self.buffer.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(self.buffer) < size + 2:
                if not self._fill():
                    raise ConnectionError("closed inside a chunk")
            body += self.buffer[:size]
            self.buffer = self.buffer[size + 2:]
            if size == 0:
                return body

    def closed_by_server(self, within: float = 3.0) -> bool:
        """True when the server closes the connection (EOF or reset) within `within` seconds."""
        deadline = time.monotonic() + within
        self.sock.settimeout(0.2)
        try:
            while time.monotonic() < deadline:
                try:
                    if not self.sock.recv(65536):
                        return True
                except TimeoutError:
                    continue
                except ConnectionResetError:
                    return True
            return False
        finally:
            self.sock.settimeout(self.timeout)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def request(port: int, data: bytes, timeout: float = 5.0) -> Response:
    with Conn(port, timeout) as conn:
        conn.send(data)
        return conn.response()
