"""Helpers shared by the data plane tests."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import Proc


@dataclass
class DataPlane:
    proc: Proc
    port: int
    status_port: int
    admin_port: int | None
    prefix: Path
    config: Path | None
    access_log: Path
    tls_port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def status(self) -> dict[str, Any]:
        return httpx.get(f"http://127.0.0.1:{self.status_port}/status", timeout=10).json()

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.status_port}/metrics", timeout=10).text

    def write_config(self, doc: dict[str, Any]) -> None:
        assert self.config is not None
        tmp = self.config.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, self.config)


def service(echo_port: int, **routes: Any) -> dict[str, Any]:
    """A document with one service on the echo upstream; `routes` maps route names to route fields."""
    return {"_format_version": "3.0", "services": [{
        "name": "echo", "url": f"http://127.0.0.1:{echo_port}",
        "routes": [{"name": name, **fields} for name, fields in (routes or {"all": {"paths": ["/"]}}).items()]}]}
