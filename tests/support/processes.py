"""Start real oidcgate processes on free loopback ports for end-to-end tests.

Every wait is bounded in time; every process is stopped (SIGTERM, then SIGKILL) when the test ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.polling import wait_until

OIDCGATE = [sys.executable, "-m", "oidcgate.cli"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 15.0,
                  proc: subprocess.Popen[bytes] | None = None) -> None:
    """Block until something accepts connections on host:port, or fail after `timeout` seconds."""

    def listening() -> bool:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        return False

    wait_until(listening, timeout=timeout, interval=0.05, what=f"something listening on {host}:{port}")


@dataclass
class Proc:
    """A running child process and where its output goes."""

    args: list[str]
    popen: subprocess.Popen[bytes]
    log_path: Path
    ports: list[int] = field(default_factory=list)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout)
        return self.popen.returncode


def start(args: Sequence[str], log_path: Path, wait_ports: Sequence[int] = (),
          env: dict[str, str] | None = None, timeout: float = 20.0, cwd: Path | None = None) -> Proc:
    """Run `oidcgate ARGS...` in its own process group and wait until `wait_ports` accept."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    popen = subprocess.Popen([*OIDCGATE, *args], stdout=log, stderr=subprocess.STDOUT, env=full_env,
                             start_new_session=True, cwd=cwd)
    proc = Proc(list(args), popen, log_path, list(wait_ports))
    try:
        for port in wait_ports:
            wait_for_port(port, timeout=timeout, proc=popen)
    except Exception as exc:
        proc.stop()
        raise RuntimeError(f"{' '.join(args)} did not start: {exc}\n{proc.output()}") from exc
    return proc


@contextlib.contextmanager
def running(args: Sequence[str], log_path: Path, wait_ports: Sequence[int] = (),
            env: dict[str, str] | None = None, timeout: float = 20.0) -> Iterator[Proc]:
    proc = start(args, log_path, wait_ports, env=env, timeout=timeout)
    try:
        yield proc
    finally:
        proc.stop()


@contextlib.contextmanager
def echo_and_dataplane(work: Path, document: Callable[[int], dict[str, Any]]) -> Iterator[str]:
    """`oidcgate echo` and a one-worker `oidcgate dp` serving `document(echo_port)`; yields the proxy URL."""
    echo_port, proxy_port, status_port = free_port(), free_port(), free_port()
    config_path = work / "kong.json"
    config_path.write_text(json.dumps(document(echo_port)))
    with running(["echo", "--listen", f"127.0.0.1:{echo_port}"], work / "echo.log", wait_ports=[echo_port]), \
         running(["dp", "--config", str(config_path), "--proxy-listen", f"127.0.0.1:{proxy_port}",
                  "--status-listen", f"127.0.0.1:{status_port}", "--workers", "1", "--prefix", str(work / "dp")],
                 work / "dp.log", wait_ports=[proxy_port]):
        yield f"http://127.0.0.1:{proxy_port}"
