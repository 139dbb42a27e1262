"""A real `oidcgate dp` (1 or more workers) in front of a real `oidcgate echo`, for the observer plugins' tests."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import Proc, free_port, running

Document = Callable[[int], dict[str, Any]]  # echo port -> kong.yml document


@dataclass
class Gateway:
    proc: Proc
    port: int
    status_port: int
    echo_port: int
    access_log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.status_port}/metrics", timeout=10).text

    def status(self) -> dict[str, Any]:
        return httpx.get(f"http://127.0.0.1:{self.status_port}/status", timeout=10).json()  # type: ignore[no-any-return]

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """One request on a connection of its own (so that a data plane's workers share them)."""
        with httpx.Client(timeout=10) as client:
            return client.get(self.url + path, **kwargs)


@contextlib.contextmanager
def gateway(work: Path, document: Document, workers: int = 1) -> Iterator[Gateway]:
    echo_port, port, status_port = free_port(), free_port(), free_port()
    config = work / "kong.json"
    config.write_text(json.dumps(document(echo_port)))
    access_log = work / "access.log"
    with running(["echo", "--listen", f"127.0.0.1:{echo_port}"], work / "echo.log", wait_ports=[echo_port]), \
         running(["dp", "--config", str(config), "--proxy-listen", f"127.0.0.1:{port}", "--status-listen",
                  f"127.0.0.1:{status_port}", "--workers", str(workers), "--prefix", str(work / "dp"),
                  "--access-log", str(access_log)], work / "dp.log", wait_ports=[port, status_port],
                 timeout=30) as proc:
        yield Gateway(proc, port, status_port, echo_port, access_log)
