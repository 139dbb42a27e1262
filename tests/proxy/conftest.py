"""Fixtures for data plane tests: an echo upstream and `oidcgate dp` processes on free loopback ports."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.proxy.helpers import DataPlane
from tests.support.processes import Proc, free_port, running, start


@pytest.fixture(scope="session")
def echo_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`oidcgate echo`, shared by the session (it keeps no state)."""
    port = free_port()
    log = tmp_path_factory.mktemp("echo") / "echo.log"
    with running(["echo", "--listen", f"127.0.0.1:{port}"], log, wait_ports=[port]):
        yield port


StartDP = Callable[..., DataPlane]


class Launcher:
    """Starts `oidcgate dp` processes in one directory and stops them all at the end."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[Proc] = []

    def __call__(self, doc: dict[str, Any] | None, *, workers: int = 1, admin: bool = False,
                 args: tuple[str, ...] = (), prefix: Path | None = None,
                 env: dict[str, str] | None = None, tls: bool = False) -> DataPlane:
        n = len(self.started)
        port, status_port = free_port(), free_port()
        admin_port = free_port() if admin else None
        tls_port = free_port() if tls else None
        prefix = prefix or self.directory / f"prefix{n}"
        config = None
        listen = f"127.0.0.1:{port}" + (f", 127.0.0.1:{tls_port} ssl" if tls_port else "")
        argv = ["dp", "--proxy-listen", listen, "--status-listen", f"127.0.0.1:{status_port}",
                "--workers", str(workers), "--prefix", str(prefix), "--access-log",
                str(self.directory / f"access{n}.log"), *args]
        if doc is not None:
            config = self.directory / f"kong{n}.json"
            config.write_text(json.dumps(doc))
            argv += ["--config", str(config)]
        if admin_port:
            argv += ["--admin-listen", f"127.0.0.1:{admin_port}"]
        ports = [port, status_port, *([tls_port] if tls_port else [])]
        proc = start(argv, self.directory / f"dp{n}.log", wait_ports=ports, env=env, timeout=30)
        self.started.append(proc)
        return DataPlane(proc, port, status_port, admin_port, prefix, config, self.directory / f"access{n}.log",
                         tls_port)

    def stop_all(self) -> None:
        for proc in self.started:
            with contextlib.suppress(Exception):
                proc.stop()


@pytest.fixture
def dataplane(tmp_path: Path) -> Iterator[StartDP]:
    """Start `oidcgate dp` with a config document (or none); stopped (SIGTERM) at the end of the test."""
    launcher = Launcher(tmp_path)
    yield launcher
    launcher.stop_all()


@pytest.fixture(scope="module")
def module_dataplane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartDP]:
    """Like `dataplane`, for a data plane shared by the tests of a module."""
    launcher = Launcher(tmp_path_factory.mktemp("dp"))
    yield launcher
    launcher.stop_all()
