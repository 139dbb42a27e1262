"""Real hybrid-mode processes on free loopback ports: control planes, data planes, the echo upstream.

Shared by the end-to-end tests and `bench/cp_push.py`. Every process runs through
tests.support.processes (own process group, SIGTERM then SIGKILL), every wait is bounded.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import httpx

from oidcgate.cluster import certs
from tests.support.processes import Proc, free_port, start


@dataclass(frozen=True)
class ClusterFiles:
    cert: str
    key: str


def cluster_files(folder: Path) -> ClusterFiles:
    certs.generate(folder / "cluster.crt", folder / "cluster.key", force=True)
    return ClusterFiles(str(folder / "cluster.crt"), str(folder / "cluster.key"))


@dataclass
class ControlPlane:
    proc: Proc
    admin: str  # base URL of the Admin API
    cluster: str  # HOST:PORT data planes connect to
    args: list[str]
    log: Path

    def stop(self) -> None:
        self.proc.stop()

    def restart(self) -> None:
        self.proc.stop()
        self.proc = start(self.args, self.log, [_port(self.admin), int(self.cluster.rsplit(":", 1)[1])])


@dataclass
class DataPlane:
    proc: Proc
    proxy: str  # base URL of the proxy listener
    status: str  # base URL of the status API
    prefix: Path
    args: list[str]
    log: Path

    def config_hash(self) -> str | None:
        """The hash of the config this data plane runs, from its status API (None when unreachable)."""
        try:
            body = httpx.get(f"{self.status}/status", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return None
        return body.get("configuration_hash")

    def stop(self) -> None:
        self.proc.stop()

    def restart(self) -> None:
        self.proc.stop()
        self.proc = start(self.args, self.log, [_port(self.proxy), _port(self.status)])

    def node_id(self) -> str:
        """The id it reports to the control plane (kept in PREFIX/node_id)."""
        return node_id(self.prefix)


def node_id(prefix: Path) -> str:
    return (prefix / "node_id").read_text().strip()


def echo(folder: Path) -> tuple[Proc, str]:
    port = free_port()
    proc = start(["echo", "--listen", f"127.0.0.1:{port}"], folder / "echo.log", [port])
    return proc, f"http://127.0.0.1:{port}"


def control_plane(folder: Path, files: ClusterFiles, name: str = "cp", database: str | None = None,
                  admin_tls: tuple[str, str] | None = None) -> ControlPlane:
    """`admin_tls`: (certificate file, key file) to serve the Admin API over HTTPS."""
    admin, cluster = free_port(), free_port()
    prefix = folder / name
    listen = f"127.0.0.1:{admin}" + (" ssl" if admin_tls else "")
    args = ["cp", "--prefix", str(prefix), "--admin-listen", listen, "--gui-listen", "off",
            "--cluster-listen", f"127.0.0.1:{cluster}", "--cluster-cert", files.cert, "--cluster-key", files.key]
    if admin_tls:
        args += ["--admin-ssl-cert", admin_tls[0], "--admin-ssl-cert-key", admin_tls[1]]
    if database is not None:
        args += ["--database", database]
    log = folder / f"{name}.log"
    return ControlPlane(start(args, log, [admin, cluster]), f"{'https' if admin_tls else 'http'}://127.0.0.1:{admin}",
                        f"127.0.0.1:{cluster}", args, log)


def data_plane(folder: Path, files: ClusterFiles, cp: str, name: str, extra: tuple[str, ...] = (), *,
               tls_port: int | None = None) -> DataPlane:
    """`oidcgate dp` with one worker; `tls_port`: also proxy over TLS there (`ssl` listener); `extra` flags
    come last (so `--workers 2` wins)."""
    proxy, status = free_port(), free_port()
    prefix = folder / name
    listen = f"127.0.0.1:{proxy}" + (f", 127.0.0.1:{tls_port} ssl" if tls_port else "")
    args = ["dp", "--cp", cp, "--cluster-cert", files.cert, "--cluster-key", files.key, "--prefix", str(prefix),
            "--proxy-listen", listen, "--status-listen", f"127.0.0.1:{status}", "--workers", "1", *extra]
    log = folder / f"{name}.log"
    return DataPlane(start(args, log, [proxy, status, *([tls_port] if tls_port else [])]),
                     f"http://127.0.0.1:{proxy}", f"http://127.0.0.1:{status}", prefix, args, log)


def control_plane_with_data_planes(stack: contextlib.ExitStack, folder: Path, files: ClusterFiles,
                                   names: tuple[str, ...] = ("dp1", "dp2"),
                                   extra: dict[str, tuple[str, ...]] | None = None) -> tuple[ControlPlane, list[DataPlane]]:
    """A control plane and data planes connected to it, each stopped when `stack` closes; `extra` adds
    flags to the data planes it names."""
    cp = control_plane(folder, files)
    stack.callback(cp.stop)
    dps = []
    for name in names:
        dps.append(data_plane(folder, files, cp.cluster, name, (extra or {}).get(name, ())))
        stack.callback(dps[-1].stop)
    return cp, dps


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])
