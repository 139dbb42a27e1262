"""A collector the tests run themselves: a real HTTP server on a loopback port that keeps what it receives.

It can answer with any status, hang (accept a request and not answer until released), and go down and
come back up on the same port, which is what a log or trace collector does to a gateway in real life.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from tests.support.processes import free_port

HANG_LIMIT = 60.0  # seconds a hanging collector holds a request at most (tests release it sooner)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


class Collector:
    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self.status = 200
        self.release = threading.Event()
        self.release.set()  # not hanging
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Collector:
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                collector.release.wait(HANG_LIMIT)
                with collector.lock:
                    collector.received.append(Received(self.command, self.path,
                                                       {k.lower(): v for k, v in self.headers.items()}, body))
                    status = collector.status
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_PUT = do_PATCH = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Down: the port refuses connections (answers held by `hang` are let go)."""
        if self.server is not None:
            self.release.set()
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def hang(self) -> None:
        self.release.clear()

    def entries(self) -> list[Any]:
        """Every log entry received (a batch is a JSON array, a single entry an object)."""
        with self.lock:
            bodies = [r.json() for r in self.received]
        return [entry for body in bodies for entry in (body if isinstance(body, list) else [body])]
